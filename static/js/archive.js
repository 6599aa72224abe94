// Archive browser: "select all" for exports and the print button. No inline scripts (CSP).
document.addEventListener("DOMContentLoaded", () => {
  for (const box of document.querySelectorAll("input[data-select-all]")) {
    box.addEventListener("change", () => {
      const form = box.closest("form");
      for (const item of form.querySelectorAll("input[name=ids]")) item.checked = box.checked;
    });
  }
  for (const button of document.querySelectorAll("[data-print]")) {
    button.addEventListener("click", () => window.print());
  }
});
