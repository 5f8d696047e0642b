// Workshop board: select a job, then a technician (or drag the job onto the technician).
// The board re-renders every few seconds; the selection lives here and is re-applied after
// each swap. Polling pauses while a job is being dragged.
(() => {
  let selected = null;
  window.dmsBoardBusy = false;

  const $ = (id) => document.getElementById(id);

  function mark() {
    document.querySelectorAll("#board-live .job[data-job-id]").forEach((el) => {
      const on = el.dataset.jobId === selected;
      el.classList.toggle("selected", on);
      el.setAttribute("aria-pressed", on ? "true" : "false");
    });
    document.querySelectorAll("#board-live [data-tech-id]").forEach((el) => {
      el.classList.toggle("armed", Boolean(selected));
    });
    const hint = $("assign-hint");
    if (hint) {
      const job = selected && document.querySelector(`#board-live .job[data-job-id="${selected}"] .desc`);
      hint.textContent = job ? `${hint.dataset.selected || "▶"} ${job.textContent.trim()}` : hint.dataset.idle || hint.textContent;
    }
  }

  function select(id) {
    selected = selected === id ? null : id;
    const input = $("assign-job");
    if (input) input.value = selected || "";
    mark();
  }

  function assign(techId) {
    const form = $("assign-form");
    if (!form || !selected) return;
    $("assign-job").value = selected;
    $("assign-tech").value = techId;
    htmx.trigger(form, "submit");
  }

  document.addEventListener("DOMContentLoaded", () => {
    const hint = $("assign-hint");
    if (hint) {
      hint.dataset.idle = hint.textContent;
      hint.dataset.selected = hint.dataset.selected || "▶";
    }
    const fs = $("fullscreen");
    if (fs) {
      fs.addEventListener("click", () => {
        if (document.fullscreenElement) document.exitFullscreen();
        else document.documentElement.requestFullscreen?.();
      });
    }
  });

  document.addEventListener("click", (event) => {
    const tech = event.target.closest("#board-live [data-tech-id]");
    if (tech) return assign(tech.dataset.techId);
    const job = event.target.closest("#board-live .job[draggable]");
    if (job) select(job.dataset.jobId);
  });

  document.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" && event.key !== " ") return;
    const target = event.target;
    if (target.matches?.("#board-live [data-tech-id]")) {
      event.preventDefault();
      assign(target.dataset.techId);
    } else if (target.matches?.("#board-live .job[draggable]")) {
      event.preventDefault();
      select(target.dataset.jobId);
    }
  });

  document.addEventListener("dragstart", (event) => {
    const job = event.target.closest?.("#board-live .job[draggable]");
    if (!job) return;
    window.dmsBoardBusy = true;
    selected = null;
    select(job.dataset.jobId);
    event.dataTransfer.setData("text/plain", job.dataset.jobId);
    event.dataTransfer.effectAllowed = "move";
  });
  document.addEventListener("dragend", () => {
    window.dmsBoardBusy = false;
    document.querySelectorAll(".drop-over").forEach((el) => el.classList.remove("drop-over"));
  });
  document.addEventListener("dragover", (event) => {
    const tech = event.target.closest?.("#board-live [data-tech-id]");
    if (!tech) return;
    event.preventDefault();
    tech.classList.add("drop-over");
  });
  document.addEventListener("dragleave", (event) => {
    const tech = event.target.closest?.("#board-live [data-tech-id]");
    if (tech) tech.classList.remove("drop-over");
  });
  document.addEventListener("drop", (event) => {
    const tech = event.target.closest?.("#board-live [data-tech-id]");
    if (!tech) return;
    event.preventDefault();
    window.dmsBoardBusy = false;
    assign(tech.dataset.techId);
  });

  document.addEventListener("htmx:afterRequest", (event) => {
    if (event.detail.elt?.id === "assign-form" && event.detail.successful) {
      selected = null;
      const input = $("assign-job");
      if (input) input.value = "";
    }
  });
  document.addEventListener("htmx:afterSettle", mark);
})();
