// The room's Export control: starts an export job over REST (POST /api/jobs), shows where it
// stands while it runs, and becomes a download link when the job's `job` event arrives on the
// socket (or its status says it is done). Text is only ever inserted with textContent.

const POLL_MS = 700;
const LABELS = { json: "JSON", csv: "CSV" };

export function createExports({ room, name, seen }) {
  const $ = (id) => document.getElementById(id);
  const menu = $("export-menu");
  const bar = $("export");
  const text = $("export-text");
  const link = $("export-link");
  let current = null; // { id, format } of the export this page started last
  let pollTimer = null;

  function show(state, message, url, format) {
    bar.hidden = false;
    bar.dataset.state = state;
    text.textContent = message;
    link.hidden = !url;
    if (url) {
      link.href = url;
      link.textContent = `Download ${LABELS[format] || "file"}`;
    } else {
      link.removeAttribute("href");
    }
    for (const button of menu.querySelectorAll("button")) {
      button.disabled = state === "pending" || state === "running";
    }
  }

  function stopPolling() {
    clearTimeout(pollTimer);
    pollTimer = null;
  }

  function progressText(job) {
    if (job.status === "pending") return `Export of #${room} waiting for a worker…`;
    const p = job.progress;
    if (!p || !p.total) return `Exporting #${room}…`;
    return `Exporting #${room}… ${p.done.toLocaleString()} of ${p.total.toLocaleString()} messages`;
  }

  function showJob(job) {
    const format = (job.params && job.params.format) || "json";
    if (job.status === "completed") {
      stopPolling();
      show("completed", `Export of #${job.params.room} is ready.`, job.result_url, format);
    } else if (job.status === "failed") {
      stopPolling();
      show("failed", `The export failed: ${job.error || "unknown error"}. Try again.`);
    } else {
      show(job.status, progressText(job));
    }
  }

  async function poll(id) {
    try {
      const response = await fetch(`/api/jobs/${id}`, { headers: { Accept: "application/json" } });
      if (response.ok && current && current.id === id && pollTimer !== null) {
        showJob(await response.json());
      }
    } catch (error) {
      // A missed poll is harmless: the next one, or the job event, brings the state.
    }
    if (current && current.id === id && pollTimer !== null) {
      pollTimer = setTimeout(() => poll(id), POLL_MS);
    }
  }

  async function start(format) {
    menu.open = false;
    stopPolling();
    show("pending", `Starting an export of #${room}…`);
    let response;
    try {
      response = await fetch("/api/jobs", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ kind: "export", room, format, name: name() }),
      });
    } catch (error) {
      show("failed", "Could not reach the server to start the export. Try again.");
      return;
    }
    const body = await response.json().catch(() => ({}));
    if (response.status !== 202) {
      show("failed", body.message ? `The export could not start: ${body.message}` : "The export could not start. Try again.");
      return;
    }
    current = { id: body.id, format };
    showJob(body);
    pollTimer = setTimeout(() => poll(body.id), POLL_MS);
  }

  menu.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-format]");
    if (button && !button.disabled) start(button.dataset.format);
  });

  document.addEventListener("click", (event) => {
    if (menu.open && !menu.contains(event.target)) menu.open = false;
  });

  $("export-close").addEventListener("click", () => {
    stopPolling();
    current = null;
    bar.hidden = true;
  });

  // A `job` event: one of this person's jobs finished (maybe started in another tab or
  // over the API); shown here, then acknowledged so it is not delivered again.
  function onJob(event) {
    const mine = current && current.id === event.id;
    const what = event.kind === "export" ? "export" : `${event.kind} job`;
    if (mine) stopPolling();
    if (event.status === "completed") {
      const format = mine ? current.format : event.kind === "stats" ? "json" : "file";
      show("completed", mine ? `Export of #${room} is ready.` : `Your ${what} is ready.`, event.result_url, format);
    } else {
      show("failed", `The ${what} failed: ${event.error || "unknown error"}. Try again.`);
    }
    seen(event.id);
  }

  return { onJob };
}
