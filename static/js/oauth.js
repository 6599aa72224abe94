// Account form: with "OAuth2" chosen, hide the password, and offer "Save and sign in with
// Google/Microsoft/..." for the chosen preset (labels come from a json_script: only providers
// this installation has an OAuth client for). No inline script: the CSP forbids it.
(() => {
  "use strict";

  function chosenMethod() {
    const checked = document.querySelector('input[name="auth_method"]:checked');
    return checked ? checked.value : "password";
  }

  function update(labels) {
    const oauth = chosenMethod() === "oauth2";
    const provider = document.getElementById("id_provider");
    const label = labels[provider ? provider.value : "custom"] || "";
    const password = document.getElementById("id_password");
    if (password) password.closest("div").hidden = oauth;
    const button = document.getElementById("oauth-save-sign-in");
    if (button) button.hidden = !oauth || !label;
    const hint = document.getElementById("oauth-sign-in-hint");
    if (hint) hint.hidden = !oauth;
    for (const span of document.querySelectorAll("[data-oauth-label]")) {
      span.textContent = label || "the provider (no OAuth client is configured for it yet)";
    }
  }

  function setUp() {
    const data = document.getElementById("oauth-labels");
    if (!data) return;
    const labels = JSON.parse(data.textContent);
    const refresh = () => update(labels);
    for (const input of document.querySelectorAll('input[name="auth_method"]')) {
      input.addEventListener("change", refresh);
    }
    const provider = document.getElementById("id_provider");
    if (provider) provider.addEventListener("change", refresh);
    refresh();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setUp);
  else setUp();
})();
