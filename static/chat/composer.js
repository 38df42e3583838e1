// The composer: typing and sending a message, shown pending until its ack, resent under the
// same client_id after a reconnect or a Retry, held back in order while rate limited; and the
// "… is typing" line, both ways. Text is only ever inserted with textContent.
import { fillMessage, markFailed } from "./messageview.js";
import { $, FRIENDLY, account, hideNotice, length, maxText, newClientId, showNotice } from "./page.js";

const TYPING_SEND_MS = 3000; // while typing, tell the room at most this often
const TYPING_SHOW_MS = 4000; // show someone as typing this long after their last signal

// `view`: the list the pending message goes into; `me()`: the name this page chats as.
export function createComposer({ connection, outbox, view, me }) {
  const form = $("composer");
  const input = $("text");
  const sendButton = $("send");
  const list = $("messages");
  const typingEl = $("typing");
  let typingSentAt = 0; // when this page last told the room it is typing
  const typists = new Map(); // name -> timer that removes them

  // Messages waiting out `rate_limited`, oldest first. Only the first is sent again (under
  // its client_id, once the server says a token is back) and the next after its ack, and new
  // messages queue behind them: the room gets them in the order typed, not the order in
  // which tokens came back.
  const held = [];
  let heldTimer = null;

  function hold(entry, waitMs) {
    if (!held.includes(entry)) held.push(entry);
    if (held[0] !== entry) return;
    clearTimeout(heldTimer);
    heldTimer = setTimeout(sendHeld, waitMs);
  }

  function sendHeld() {
    heldTimer = null;
    while (held.length && !(outbox.get(held[0].clientId) === held[0] && held[0].state === "sending")) {
      held.shift();
    }
    if (held.length) sendMessage(held[0]);
  }

  function unhold(clientId) {
    const index = held.findIndex((entry) => entry.clientId === clientId);
    if (index < 0) return;
    held.splice(index, 1);
    if (index === 0 && heldTimer === null) sendHeld();
  }

  function forgetHeld() {
    held.length = 0;
    clearTimeout(heldTimer);
    heldTimer = null;
  }

  function sendMessage(entry) {
    const { clientId, text } = entry;
    typingSentAt = 0; // a sent message ends the typing; the next keystroke announces again
    return connection.send({ type: "message", text, client_id: clientId }, { kind: "message", clientId });
  }

  // After the welcome: the same client_id again, so the server stores nothing twice and
  // repeats its ack.
  function resendPending() {
    forgetHeld();
    for (const entry of outbox.toResend()) sendMessage(entry);
  }

  function acknowledge(event) {
    connection.take((r) => r.kind === "message" && r.clientId === event.client_id);
    const entry = outbox.acknowledge(event.client_id);
    unhold(event.client_id);
    if (!entry) return; // a repeated ack of a message shown already
    view.acknowledged(entry.item, event.seq);
  }

  // An error event for the message sent as `clientId` (or for none: null). Rate limited, it
  // waits and goes again; refused, it shows Retry. Either way true when it was ours to handle
  // quietly, false when the notice should say why.
  function refused(clientId, event) {
    const entry = clientId ? outbox.get(clientId) : null;
    if (entry && event.code === "rate_limited" && event.retry_after_ms) {
      hold(entry, event.retry_after_ms);
      return true;
    }
    if (entry) {
      unhold(clientId);
      markFailed(outbox.fail(clientId).item);
    }
    return false;
  }

  list.addEventListener("click", (event) => {
    const button = event.target.closest(".delivery button");
    if (!button) return;
    const item = button.closest(".message");
    const entry = outbox.values().find((candidate) => candidate.item === item);
    if (!entry) return;
    // The same client_id again, so the server can recognise a message it did store.
    if (sendMessage(entry)) {
      outbox.retry(entry.clientId);
      item.classList.remove("failed");
      item.classList.add("pending");
      item.querySelector(".delivery").remove();
      hideNotice();
    } else {
      showNotice(FRIENDLY.offline);
    }
  });

  input.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || event.shiftKey || event.altKey || event.isComposing) return;
    event.preventDefault();
    form.requestSubmit();
  });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value;
    if (!text.trim()) return;
    if (length(text) > maxText) {
      showNotice(FRIENDLY.text_too_long);
      return;
    }
    const clientId = newClientId();
    view.showPresent();
    const queued = held.length > 0; // behind messages waiting out rate_limited
    if (!queued && !sendMessage({ clientId, text })) {
      showNotice(FRIENDLY.offline);
      return;
    }
    hideNotice();
    const item = document.createElement("li");
    fillMessage(item, { author: me(), account: account || null, text, ts: new Date().toISOString() }, me());
    item.classList.add("pending");
    const entry = outbox.add(clientId, text);
    entry.item = item;
    if (queued) held.push(entry);
    view.appendPending(item);
    input.value = "";
    resizeInput();
    input.focus();
  });

  // Grow the message field with its text where CSS `field-sizing` cannot.
  const autosize = !(window.CSS && CSS.supports("field-sizing", "content"));
  function resizeInput() {
    if (!autosize) return;
    input.style.height = "auto";
    input.style.height = `${input.scrollHeight}px`;
  }
  input.addEventListener("input", resizeInput);

  $("notice-close").addEventListener("click", () => {
    hideNotice();
    input.focus();
  });

  // ---- typing -----------------------------------------------------------------------------

  input.addEventListener("input", () => {
    const now = Date.now();
    if (!input.value.trim() || now - typingSentAt < TYPING_SEND_MS) return;
    if (connection.sendQuiet({ type: "typing" })) typingSentAt = now;
  });

  function onTyping(event) {
    if (event.name === me()) return;
    clearTimeout(typists.get(event.name));
    typists.set(event.name, setTimeout(() => stopTyping(event.name), TYPING_SHOW_MS));
    showTyping();
  }

  function stopTyping(who) {
    if (!typists.has(who)) return;
    clearTimeout(typists.get(who));
    typists.delete(who);
    showTyping();
  }

  function showTyping() {
    const names = [...typists.keys()];
    if (names.length === 0) typingEl.textContent = "";
    else if (names.length === 1) typingEl.textContent = `${names[0]} is typing…`;
    else if (names.length === 2) typingEl.textContent = `${names[0]} and ${names[1]} are typing…`;
    else typingEl.textContent = "Several people are typing…";
  }

  return {
    get text() {
      return input.value;
    },
    // The text was scheduled instead: the field empties, unless it was changed since.
    clearIf(text) {
      if (input.value !== text) return;
      input.value = "";
      resizeInput();
    },
    focus: () => input.focus(),
    setOnline: (online) => {
      sendButton.disabled = !online;
    },
    resendPending,
    acknowledge,
    refused,
    onTyping,
    stopTyping,
  };
}
