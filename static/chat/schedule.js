// "Send later": the dialog that schedules the composer's text for a moment in the browser's
// time zone (a retry keeps its client_id, so the server schedules it once), and the list of
// this name's scheduled messages with their Cancel buttons. Text only via textContent.
import { $, FRIENDLY, formatTime, hideNotice, length, maxText, newClientId, showNotice } from "./page.js";

const MAX_TIMER_MS = 2 ** 31 - 1;

function pad(number) {
  return String(number).padStart(2, "0");
}

// The value a datetime-local input shows for a moment, in the browser's time zone.
function localInputValue(when) {
  const day = `${when.getFullYear()}-${pad(when.getMonth() + 1)}-${pad(when.getDate())}`;
  return `${day}T${pad(when.getHours())}:${pad(when.getMinutes())}:${pad(when.getSeconds())}`;
}

// ISO 8601 with the browser's own offset, so the server knows exactly which moment is meant.
function isoWithOffset(when) {
  const minutes = -when.getTimezoneOffset();
  const sign = minutes >= 0 ? "+" : "-";
  const offset = `${sign}${pad(Math.floor(Math.abs(minutes) / 60))}:${pad(Math.abs(minutes) % 60)}`;
  return `${localInputValue(when)}${offset}`;
}

function scheduledItem(item) {
  const when = new Date(item.deliver_at);
  const row = document.createElement("li");
  row.className = "scheduled-item";
  row.dataset.id = item.id;
  const time = document.createElement("time");
  time.className = "scheduled-when";
  time.dateTime = when.toISOString();
  time.title = when.toLocaleString();
  time.textContent = formatTime(when);
  const text = document.createElement("span");
  text.className = "scheduled-text";
  text.textContent = item.text;
  text.title = item.text;
  const cancel = document.createElement("button");
  cancel.type = "button";
  cancel.className = "ghost small";
  cancel.textContent = "Cancel";
  cancel.setAttribute("aria-label", `Cancel the message scheduled for ${when.toLocaleString()}`);
  row.append(time, text, cancel);
  return row;
}

// `composer`: whose text is scheduled, emptied once the server has it.
export function createSchedule({ connection, composer }) {
  const laterButton = $("later");
  const dialog = $("schedule-dialog");
  const form = $("schedule-form");
  const at = $("schedule-at");
  const error = $("schedule-error");
  const preview = $("schedule-preview");
  const submit = $("schedule-submit");
  const box = $("scheduled");
  const summary = $("scheduled-summary");
  const list = $("scheduled-list");
  let items = []; // this name's pending scheduled messages, as the server last listed
  let timer = null;
  let listAgain = false;
  // The "send later" request awaiting its answer; a retry reuses its client_id.
  let draft = null;

  function open() {
    const text = composer.text;
    if (!text.trim()) {
      showNotice("Type the message first, then pick when to send it.");
      composer.focus();
      return;
    }
    if (length(text) > maxText) {
      showNotice(FRIENDLY.text_too_long);
      return;
    }
    hideNotice();
    preview.textContent = text;
    const now = new Date();
    // A suggestion: the next quarter hour at least ten minutes away.
    const suggested = new Date(now.getTime() + 10 * 60 * 1000);
    suggested.setMinutes(Math.ceil(suggested.getMinutes() / 15) * 15, 0, 0);
    if (!at.value || new Date(at.value) <= now) {
      at.value = localInputValue(suggested);
    }
    at.min = localInputValue(now);
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone) {
      $("schedule-help").textContent = `Time in ${zone}. Up to a year ahead; a time that has passed sends at once.`;
    }
    setError(null);
    submit.disabled = false;
    submit.textContent = "Schedule";
    dialog.showModal();
    at.focus();
  }

  function setError(problem) {
    error.textContent = problem || "";
    error.hidden = !problem;
    at.setAttribute("aria-invalid", problem ? "true" : "false");
  }

  function failed(problem) {
    if (draft) draft.sent = false;
    submit.disabled = false;
    submit.textContent = "Schedule";
    if (dialog.open) setError(problem);
    else showNotice(problem);
  }

  laterButton.addEventListener("click", open);

  $("schedule-cancel").addEventListener("click", () => dialog.close());

  dialog.addEventListener("close", () => composer.focus());

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (draft && draft.sent) return; // answer still on its way
    const when = at.value ? new Date(at.value) : null;
    if (!when || Number.isNaN(when.getTime())) {
      setError("Pick a date and time.");
      return;
    }
    const text = composer.text;
    const deliverAt = isoWithOffset(when);
    // The same request again (after an error or a lost answer) keeps its client_id, so the
    // server schedules it once.
    if (!draft || draft.text !== text || draft.deliverAt !== deliverAt) {
      draft = { clientId: newClientId(), text, deliverAt, sent: false };
    }
    const { clientId } = draft;
    const sent = connection.send(
      { type: "schedule", text, deliver_at: deliverAt, client_id: clientId },
      { kind: "schedule", clientId },
    );
    if (!sent) {
      setError(FRIENDLY.offline);
      return;
    }
    draft.sent = true;
    setError(null);
    submit.disabled = true;
    submit.textContent = "Scheduling…";
  });

  function onScheduled(event) {
    connection.take((r) => r.kind === "schedule" && r.clientId === event.client_id);
    if (!draft || draft.clientId !== event.client_id) return;
    composer.clearIf(draft.text);
    draft = null;
    at.value = "";
    dialog.close();
    box.open = true;
    request();
  }

  // One list request at a time; a change while one is out asks once more after it.
  function request() {
    if (connection.waiting((r) => r.kind === "list")) {
      listAgain = true;
      return;
    }
    connection.send({ type: "scheduled.list" }, { kind: "list" });
  }

  function onList(event) {
    connection.take((r) => r.kind === "list");
    show(event.items);
    if (listAgain) {
      listAgain = false;
      request();
    }
  }

  function onCancelled(event) {
    connection.take((r) => r.kind === "cancel" && r.id === event.id);
    show(items.filter((item) => item.id !== event.id));
    request();
  }

  function show(shown) {
    items = shown;
    clearTimeout(timer);
    timer = null;
    box.hidden = items.length === 0;
    summary.textContent = `Scheduled (${items.length})`;
    list.replaceChildren(...items.map(scheduledItem));
    if (items.length) {
      // Look again just after the earliest is due: by then it has gone out.
      const next = Math.min(...items.map((item) => new Date(item.deliver_at).getTime()));
      const wait = Math.min(MAX_TIMER_MS, Math.max(1000, next - Date.now() + 1500));
      timer = setTimeout(request, wait);
    }
  }

  list.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    const id = button.closest(".scheduled-item").dataset.id;
    if (connection.send({ type: "scheduled.cancel", id }, { kind: "cancel", id })) {
      button.disabled = true;
    } else {
      showNotice("Not connected, so nothing was cancelled. Try again once the page has reconnected.");
    }
  });

  return {
    request,
    onScheduled,
    onList,
    onCancelled,
    failed,
    // A list request refused: the list stays as it was; it is asked for again on the next change.
    listFailed: () => {
      listAgain = false;
    },
    // A cancel refused: its Cancel button works again, and the list is asked for anew.
    cancelFailed: () => {
      show(items);
      request();
    },
    // One of ours arrived live: maybe a scheduled one going out, so the list changes.
    ownMessage: () => {
      if (items.length) request();
    },
    dropped: () => {
      listAgain = false;
      if (draft && draft.sent) failed(FRIENDLY.offline);
    },
    setOnline: (online) => {
      laterButton.disabled = !online;
    },
  };
}
