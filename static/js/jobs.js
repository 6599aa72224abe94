// Job form: show only the schedule fields that the chosen schedule uses (no inline script: CSP).
(() => {
  const select = document.getElementById("id_schedule");
  if (!select) return;
  const update = () => {
    document.querySelectorAll("[data-schedules]").forEach((block) => {
      block.hidden = !block.dataset.schedules.split(" ").includes(select.value);
    });
  };
  select.addEventListener("change", update);
  update();
})();
