// Account form: provider presets fill server, port and security and show the provider's hint;
// the "pin" button of a failed test fills the fingerprint field; buttons show a busy state while
// htmx waits. No inline script anywhere (the CSP forbids it): presets come from a json_script.
(() => {
  "use strict";

  const DEFAULT_PORTS = { imap: { ssl: 993, other: 143 }, pop3: { ssl: 995, other: 110 } };
  const STANDARD_PORTS = new Set(["993", "143", "995", "110"]);

  function field(name) {
    return document.getElementById(`id_${name}`);
  }

  function loadPresets() {
    const data = document.getElementById("account-presets");
    return data ? JSON.parse(data.textContent) : {};
  }

  function showHint(text) {
    const hint = document.getElementById("provider-hint");
    if (!hint) return;
    hint.textContent = text;
    hint.hidden = !text;
  }

  function defaultPort(protocol, security) {
    const ports = DEFAULT_PORTS[protocol] || DEFAULT_PORTS.imap;
    return String(security === "ssl" ? ports.ssl : ports.other);
  }

  // Apply the chosen preset for the chosen protocol; a custom server keeps what was typed.
  function applyPreset(presets) {
    const preset = presets[field("provider").value];
    const protocol = field("protocol").value;
    if (!preset || field("provider").value === "custom") {
      showHint("");
      return;
    }
    const server = preset[protocol];
    if (server) {
      field("host").value = server.host;
      field("port").value = server.port;
      field("security").value = server.security;
      showHint(preset.hint);
    } else {
      showHint(`${preset.label} offers no ${protocol.toUpperCase()}. ${preset.hint}`.trim());
    }
  }

  // With a custom server, keep the port in step with protocol and security while it is still
  // one of the usual ports (never overwrite a port the admin chose).
  function followDefaults() {
    const port = field("port");
    if (port.value === "" || STANDARD_PORTS.has(port.value)) {
      port.value = defaultPort(field("protocol").value, field("security").value);
    }
  }

  function setUp() {
    const form = document.getElementById("account-form");
    if (!form || !field("provider")) return;
    const presets = loadPresets();
    field("provider").addEventListener("change", () => applyPreset(presets));
    field("protocol").addEventListener("change", () => {
      if (field("provider").value === "custom") followDefaults();
      else applyPreset(presets);
    });
    field("security").addEventListener("change", () => {
      if (field("provider").value === "custom") followDefaults();
    });
  }

  // Delegated, so it works on result fragments htmx swaps in later.
  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-pin-fingerprint]");
    if (!button) return;
    const input = field("tls_fingerprint");
    if (!input) return;
    input.value = button.dataset.pinFingerprint;
    input.focus();
    button.textContent = "Pinned in the form: test again, then save";
    button.disabled = true;
  });

  document.addEventListener("htmx:beforeRequest", (event) => {
    const busy = event.detail.elt.matches("[data-busy]")
      ? event.detail.elt
      : event.detail.elt.querySelector("[data-busy]");
    if (busy) busy.setAttribute("aria-busy", "true");
  });
  document.addEventListener("htmx:afterRequest", (event) => {
    for (const el of document.querySelectorAll("[data-busy][aria-busy]")) {
      el.removeAttribute("aria-busy");
    }
    // A failed request (server error, network) still gets a visible sentence.
    if (!event.detail.successful && event.detail.target) {
      event.detail.target.textContent = "The test could not run: the server returned an error.";
    }
  });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setUp);
  else setUp();
})();
