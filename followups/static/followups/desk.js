// The follow-up desk: the queue's highlight follows the call shown in the panel (chosen from
// the list, "Next call", or the next one after an outcome is recorded).
document.addEventListener("htmx:afterSettle", () => {
  const panel = document.getElementById("call-panel");
  const queue = document.getElementById("queue");
  if (!panel || !queue) return;
  const current = panel.dataset.task;
  queue.querySelectorAll("a[data-task]").forEach((a) => {
    if (a.dataset.task === current) {
      a.setAttribute("aria-current", "true");
      a.scrollIntoView({ block: "nearest" });
    } else {
      a.removeAttribute("aria-current");
    }
  });
});
