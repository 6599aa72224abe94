// Archive browser: "select all" for exports, the print button, and the advanced search writing
// its fields into the search box as operators (archive.query_language), so the URL is `q=...`.
// No inline scripts (CSP).
const SEARCH_OPERATORS = {
  subject: "subject", body: "body", from_addr: "from", to_addrs: "to", cc_addrs: "cc",
  attachments: "filename", date_from: "after",
};
const SEARCH_CHOICES = {
  has_attachment: { yes: "has:attachment", no: "-has:attachment" },
  deleted: { yes: "is:deleted", no: "-is:deleted" },
  flag: {
    "\\Seen": "is:read", "-\\Seen": "is:unread", "\\Flagged": "is:flagged",
    "\\Answered": "is:answered", "\\Draft": "is:draft",
  },
};

function dayAfter(isoDate) {
  const day = new Date(`${isoDate}T00:00:00Z`);
  day.setUTCDate(day.getUTCDate() + 1);
  return day.toISOString().slice(0, 10);
}

function buildQuery(form) {
  form.elements.q.dataset.typed = form.elements.q.value;
  const parts = [form.elements.q.value.trim()];
  for (const [name, op] of Object.entries(SEARCH_OPERATORS)) {
    const field = form.elements[name];
    // Each word or "quoted phrase" of a field becomes one operator.
    for (const term of field.value.match(/"[^"]*"|\S+/g) || []) parts.push(`${op}:${term}`);
    field.disabled = Boolean(field.value.trim());
  }
  const to = form.elements.date_to;
  if (to.value) parts.push(`before:${dayAfter(to.value)}`);
  to.disabled = Boolean(to.value);
  for (const [name, choices] of Object.entries(SEARCH_CHOICES)) {
    const field = form.elements[name];
    if (choices[field.value]) parts.push(choices[field.value]);
    field.disabled = Boolean(choices[field.value]);
  }
  form.elements.q.value = parts.filter(Boolean).join(" ");
}

document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll("form[data-build-query]")) {
    form.addEventListener("submit", () => buildQuery(form));
    // Back to this page from the results: the box and the fields as they were typed.
    window.addEventListener("pageshow", () => {
      const box = form.elements.q;
      if (box.dataset.typed !== undefined) box.value = box.dataset.typed;
      for (const field of form.elements) field.disabled = false;
    });
  }
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
