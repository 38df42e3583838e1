// The list of messages: history pages (the newest on join, older ones on scroll, a window
// around a search result and back), live messages in seq order, the gaps timeline.js says to
// fetch, the "new messages" button, and the count in a hidden tab's title.
import { fillMessage, nextMessage, refreshStamps, regroup, renderDays } from "./messageview.js";
import { $, room, showNotice } from "./page.js";
import { historyKind } from "./timeline.js";

const PAGE = 50;
const STAMPS_MS = 30 * 1000;

// `me()`: the name this page chats as; `ownMessage()`: one of ours arrived live (maybe a
// scheduled one going out); `focusComposer()`: after the jump button.
export function createTimelineView({ connection, timeline, outbox, me, ownMessage, focusComposer }) {
  const list = $("messages");
  const marker = $("history-marker");
  const empty = $("empty");
  const jump = $("jump");
  const shown = new Map(); // seq -> <li>, in seq order in the DOM
  let fetchTimer = null;
  let hasMore = false;
  let historyLoaded = false;
  let loadingOlder = false;
  let loadingNewer = false; // a newer page of a window of older messages is on its way
  let jumpTarget = null; // the seq a requested window is centred on, to highlight
  let unread = 0;
  let pinned = true; // the reader was at the newest message when they last scrolled
  let daysQueued = false;
  let titleUnread = 0;
  const baseTitle = document.title;

  // A history event says by its echoed cursor what it is: `after_seq` pages fill in newer
  // messages (the catch-up after a resume, a gap), the others are the newest or an older page.
  function onHistory(event) {
    let kind = historyKind(event);
    if (kind === null) {
      kind = connection.take((r) => r.kind === "older") ? "older" : "newest"; // no cursor echoed
    } else if (kind === "older") {
      connection.take((r) => r.kind === "older");
    }
    const now = Date.now();
    if (kind === "around") {
      onWindow(event, now);
    } else if (kind === "after" && connection.take((r) => r.kind === "newer" && r.after === event.after_seq)) {
      const result = timeline.receiveHistory(event, now, kind);
      showAll(event.messages, result.fresh);
      loadingNewer = false;
      updateLatest();
    } else if (kind === "older") {
      const fromBottom = list.scrollHeight - list.scrollTop;
      const result = timeline.receiveHistory(event, now, kind);
      showAll(event.messages, result.fresh);
      hasMore = event.has_more;
      loadingOlder = false;
      updateMarker();
      drawDays();
      list.scrollTop = list.scrollHeight - fromBottom; // keep the reader where they were
    } else {
      connection.served();
      const first = !historyLoaded;
      const stick = first || isNearBottom();
      const result = timeline.receiveHistory(event, now, kind);
      if (result.answered) connection.take((r) => r.kind === "gap");
      if (kind === "newest" && connection.take((r) => r.kind === "latest")) loadingNewer = false;
      if (result.cleared) clearShown();
      showAll(event.messages, result.fresh);
      if ((first || result.cleared) && kind === "newest") hasMore = event.has_more;
      historyLoaded = true;
      updateMarker();
      updateLatest();
      if (stick || result.cleared) scrollToBottom();
    }
    fetchMissing();
    fillScreen();
  }

  function showAll(messages, fresh) {
    for (const { message, before } of fresh) insertMessage(message, before);
    for (const message of messages) refreshLocal(message);
  }

  // ---- a window around one message (a search result), and back to the newest ------------

  function jumpTo(seq) {
    if (!connection.send({ type: "history", around_seq: seq, limit: PAGE }, { kind: "around" })) {
      showNotice("Not connected, so that message cannot be shown. Try again once the page has reconnected.");
      return;
    }
    jumpTarget = seq;
  }

  function onWindow(event, now) {
    connection.take((r) => r.kind === "around");
    const result = timeline.receiveHistory(event, now, "around");
    clearShown();
    showAll(event.messages, result.fresh);
    hasMore = event.has_more;
    loadingOlder = false;
    loadingNewer = false;
    historyLoaded = true;
    updateMarker();
    drawDays();
    updateLatest();
    const target = shown.get(jumpTarget === null ? event.around_seq : jumpTarget);
    jumpTarget = null;
    if (target) {
      for (const old of list.querySelectorAll(".message.hit")) old.classList.remove("hit");
      target.classList.add("hit");
      target.tabIndex = -1;
      target.scrollIntoView({ block: "center" });
      target.focus({ preventScroll: true });
    }
    pinned = false;
  }

  // Every stored message leaves the list (pending sends stay): another window replaces them.
  function clearShown() {
    for (const item of shown.values()) item.remove();
    shown.clear();
    for (const day of list.querySelectorAll("li.day")) day.remove();
  }

  function loadNewer() {
    if (!timeline.detached || loadingNewer) return;
    const after = timeline.highest;
    if (connection.send({ type: "history", after_seq: after, limit: PAGE }, { kind: "newer", after })) {
      loadingNewer = true;
    }
  }

  function backToLatest() {
    if (connection.send({ type: "history", limit: PAGE }, { kind: "latest" })) loadingNewer = true;
  }

  // While a window of older messages is shown, the jump button leads back to the newest.
  function updateLatest() {
    if (!timeline.detached) {
      if (jump.dataset.mode === "latest") {
        jump.hidden = true;
        delete jump.dataset.mode;
      }
      return;
    }
    const missed = timeline.missedLive;
    jump.dataset.mode = "latest";
    jump.textContent = missed ? `Jump to latest (${missed} new) ↓` : "Jump to latest ↓";
    jump.hidden = false;
  }

  // ---- day separators, relative times, the title ------------------------------------------

  function queueDays() {
    if (daysQueued) return;
    daysQueued = true;
    requestAnimationFrame(drawDays);
  }

  function drawDays() {
    daysQueued = false;
    renderDays(list);
  }

  // Refresh the stamps (and "Today" after midnight) now and then.
  setInterval(() => {
    refreshStamps(list);
    queueDays();
  }, STAMPS_MS);

  function updateTitle(more) {
    titleUnread = more ? titleUnread + more : 0;
    document.title = titleUnread ? `(${titleUnread}) ${baseTitle}` : baseTitle;
  }

  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) updateTitle(0);
  });

  // ---- live messages and gaps --------------------------------------------------------------

  function onLiveMessage(message) {
    const stick = isNearBottom();
    const verdict = timeline.receiveLive(message.seq, Date.now());
    if (verdict.detached) {
      updateLatest(); // the reader is further back: counted, shown once they return
      if (document.hidden) updateTitle(1);
      return;
    }
    if (verdict.added) insertMessage(message, verdict.before);
    else refreshLocal(message);
    if (stick) {
      scrollToBottom();
    } else if (verdict.added && message.author !== me()) {
      unread += 1;
      jump.textContent = unread === 1 ? "1 new message ↓" : `${unread} new messages ↓`;
      jump.hidden = false;
    }
    if (verdict.added && document.hidden) updateTitle(1);
    if (verdict.added && message.author === me()) ownMessage();
    fetchMissing();
  }

  // Pub/sub may lose broadcasts and seqs may have holes: the timeline says which range to ask
  // for next (one request at a time) and when to look again.
  function fetchMissing() {
    clearTimeout(fetchTimer);
    fetchTimer = null;
    if (!connection.online) return;
    const now = Date.now();
    const request = timeline.nextRequest(now);
    if (request && !connection.send(request, { kind: "gap" })) timeline.requestFailed(now);
    const wait = timeline.wakeIn(now);
    if (wait !== null) fetchTimer = setTimeout(fetchMissing, Math.max(50, wait));
  }

  function loadOlder() {
    if (loadingOlder || !hasMore || timeline.size === 0) return;
    const oldest = timeline.lowestShown();
    if (connection.send({ type: "history", before_seq: oldest, limit: PAGE }, { kind: "older" })) {
      loadingOlder = true;
      updateMarker();
    }
  }

  // On tall screens a page may not fill the list, so no scroll could ever ask for more.
  function fillScreen() {
    if (hasMore && !loadingOlder && list.scrollHeight <= list.clientHeight) loadOlder();
  }

  function updateMarker() {
    if (!historyLoaded) return;
    marker.hidden = false;
    marker.classList.toggle("start", !hasMore);
    if (!hasMore) marker.textContent = `Beginning of #${room}`;
    else if (loadingOlder) marker.textContent = "Loading older messages…";
    else marker.textContent = "Scroll up for older messages";
    updateEmpty();
  }

  function updateEmpty() {
    empty.hidden = !(historyLoaded && shown.size === 0 && outbox.size === 0);
  }

  // ---- scrolling ---------------------------------------------------------------------------

  function isNearBottom() {
    return list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  }

  function scrollToBottom() {
    list.scrollTop = list.scrollHeight;
  }

  list.addEventListener("scroll", () => {
    pinned = isNearBottom() && !timeline.detached;
    if (list.scrollTop < 80) loadOlder();
    if (isNearBottom()) loadNewer();
    if (pinned) {
      jump.hidden = true;
      unread = 0;
    }
  });

  // The list shrinks when a notice, a longer message or a phone keyboard takes room below it.
  if (window.ResizeObserver) {
    new ResizeObserver(() => {
      if (pinned) scrollToBottom();
    }).observe(list);
  }

  jump.addEventListener("click", () => {
    if (jump.dataset.mode === "latest") {
      backToLatest();
      focusComposer();
      return;
    }
    scrollToBottom();
    jump.hidden = true;
    unread = 0;
    focusComposer();
  });

  // ---- placing items -----------------------------------------------------------------------

  function insertMessage(message, before) {
    const item = document.createElement("li");
    fillMessage(item, message, me());
    place(item, message.seq, before);
  }

  // Our own message, shown since its ack: now with the server's time and text as stored.
  function refreshLocal(message) {
    const existing = shown.get(message.seq);
    if (!existing || !existing.classList.contains("local")) return;
    fillMessage(existing, message, me());
    regroup(existing);
    regroup(nextMessage(existing));
  }

  // `before`: the shown seq it goes in front of; null for the newest, above pending sends.
  function place(item, seq, before) {
    shown.set(seq, item);
    const next = before === null ? firstPending() : shown.get(before) || null;
    list.insertBefore(item, next);
    regroup(item);
    regroup(nextMessage(item));
    updateEmpty();
    queueDays();
  }

  function firstPending() {
    const entry = outbox.first();
    return entry ? entry.item : null;
  }

  // A send just typed, at the bottom until its ack places it.
  function appendPending(item) {
    list.appendChild(item);
    regroup(item);
    updateEmpty();
    scrollToBottom();
  }

  // The ack of our pending `item`: shown as stored at `seq`, unless its broadcast came first.
  function acknowledged(item, seq) {
    const after = nextMessage(item);
    item.remove();
    regroup(after);
    const verdict = timeline.receiveLive(seq, Date.now());
    if (!verdict.added) {
      updateEmpty();
      fetchMissing();
      return; // the broadcast came first and is already shown
    }
    // Show it as stored now; its broadcast fills in the server's time when it arrives.
    item.classList.remove("pending", "failed");
    item.classList.add("local");
    const status = item.querySelector(".delivery");
    if (status) status.remove();
    item.dataset.seq = String(seq);
    place(item, seq, verdict.before);
    fetchMissing();
  }

  // ---- requests that came to nothing -------------------------------------------------------

  function dropped() {
    loadingNewer = false;
    loadingOlder = false;
    timeline.disconnected();
    clearTimeout(fetchTimer);
    fetchTimer = null;
    updateMarker();
  }

  function olderFailed() {
    loadingOlder = false;
    updateMarker();
  }

  function gapFailed() {
    timeline.requestFailed(Date.now()); // asked again later; nothing the reader can do
    fetchMissing();
  }

  function windowFailed() {
    loadingNewer = false;
    jumpTarget = null;
  }

  return {
    onHistory,
    onLiveMessage,
    jumpTo,
    // A new message belongs under the newest ones, not in a window of older ones.
    showPresent: () => {
      if (timeline.detached) backToLatest();
    },
    appendPending,
    acknowledged,
    dropped,
    olderFailed,
    gapFailed,
    windowFailed,
  };
}
