// chatsite page: one native WebSocket per room. Text is only ever inserted with textContent.
// What to show where, what is missing and what to resend is decided by timeline.js; this file
// does the DOM and the socket.
(function () {
  "use strict";

  const { Timeline, Outbox, historyKind } = window.ChatTimeline;
  const { linkParts, dayKey, dayLabel, relativeTime } = window.ChatFormat;

  const NAME_KEY = "chatsite.name";
  const CLOSE_BAD_REQUEST = 4400;
  // Refused by a connection limit: said in the status line while the page tries again.
  const CLOSE_REASONS = {
    4429: "Too many connections from your network",
    4503: "The server is full",
  };
  const PAGE = 50;
  const GROUP_MS = 5 * 60 * 1000; // consecutive messages closer than this share one header
  const RECONNECT_BASE_MS = 500;
  const RECONNECT_MAX_MS = 30000;
  const HUES = 8;

  const body = document.body;
  const room = body.dataset.room;
  const maxName = Number(body.dataset.maxName);
  const maxText = Number(body.dataset.maxText);
  // A signed-in user chats under their username; guests pick a name.
  const account = body.dataset.account || "";

  const $ = (id) => document.getElementById(id);
  const list = $("messages");
  const marker = $("history-marker");
  const empty = $("empty");
  const jump = $("jump");
  const statusEl = $("status");
  const notice = $("notice");
  const noticeText = $("notice-text");
  const composer = $("composer");
  const input = $("text");
  const sendButton = $("send");
  const me = $("me");
  const meAvatar = $("me-avatar");
  const who = $("who");
  const dialog = $("name-dialog");
  const nameForm = $("name-form");
  const nameInput = $("name");
  const nameError = $("name-error");
  const nameCancel = $("name-cancel");
  const laterButton = $("later");
  const scheduleDialog = $("schedule-dialog");
  const scheduleForm = $("schedule-form");
  const scheduleAt = $("schedule-at");
  const scheduleError = $("schedule-error");
  const schedulePreview = $("schedule-preview");
  const scheduleSubmit = $("schedule-submit");
  const scheduledBox = $("scheduled");
  const scheduledSummary = $("scheduled-summary");
  const scheduledList = $("scheduled-list");

  const FRIENDLY = {
    not_stored: "Your message could not be saved. Please try again.",
    text_too_long: `Messages can be at most ${maxText} characters.`,
    empty_text: "Type something before sending.",
    frame_too_large: "That message is too large to send.",
    rate_limited: "You are sending messages too quickly. Wait a moment and try again.",
    offline: "Not connected, so the message was not sent. Try again once the page has reconnected.",
    invalid_deliver_at: "That date and time could not be read. Pick it again.",
    deliver_at_too_far: "Messages can be scheduled at most a year ahead.",
    not_scheduled: "The message could not be scheduled. Please try again.",
    too_late: "Too late to cancel: that message is being sent.",
    too_many_connections: "Too many connections from your network. Close some tabs; retrying.",
    connecting_too_fast: "Too many new connections from your network. Retrying shortly.",
    server_full: "The server is full right now. Retrying shortly.",
  };

  let typingSentAt = 0; // when this page last told the room it is typing
  let name = account || remembered();
  let ws = null;
  let online = false;
  let retries = 0;
  let reconnectTimer = null;
  let countdownTimer = null;
  let fetchTimer = null;
  let hasMore = false;
  let historyLoaded = false;
  let loadingOlder = false;
  let loadingNewer = false; // a newer page of a window of older messages is on its way
  let jumpTarget = null; // the seq a requested window is centred on, to highlight
  let unread = 0;
  let pinned = true; // the reader was at the newest message when they last scrolled
  // Requests waiting for their answer, in the order sent: the server answers each frame in
  // turn, so an error that names no client_id belongs to the oldest one.
  let requests = [];
  const timeline = new Timeline(); // which seqs are shown, missing, or holes
  const outbox = new Outbox(); // client_id -> { text, state, item }: sent, not yet acknowledged
  const shown = new Map(); // seq -> <li>, in seq order in the DOM
  let scheduledItems = []; // this name's pending scheduled messages, as the server last listed
  let scheduledTimer = null;
  let listAgain = false;
  // The "send later" request awaiting its answer; a retry reuses its client_id.
  let scheduleDraft = null;

  // ---- helpers ----------------------------------------------------------------------------

  // Storage can be unavailable (privacy modes, full quota); the page then just asks again.
  function remembered() {
    try {
      return localStorage.getItem(NAME_KEY) || "";
    } catch (err) {
      return "";
    }
  }

  function remember(value) {
    try {
      if (value) localStorage.setItem(NAME_KEY, value);
      else localStorage.removeItem(NAME_KEY);
    } catch (err) {
      // nothing to do: the name only lasts as long as the page
    }
  }

  function length(text) {
    return [...text].length; // code points, as the server counts
  }

  function sentence(text) {
    const trimmed = String(text || "").trim();
    if (!trimmed) return "Something went wrong.";
    const first = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
    return /[.!?…]$/.test(first) ? first : `${first}.`;
  }

  function hue(value) {
    let hash = 0;
    for (const ch of value) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
    return `hue-${hash % HUES}`;
  }

  function initial(value) {
    const first = [...value.trim()][0] || "?";
    return first.toUpperCase();
  }

  function paintAvatar(el, who) {
    el.textContent = initial(who);
    for (let i = 0; i < HUES; i += 1) el.classList.remove(`hue-${i}`);
    el.classList.add(hue(who));
  }

  function formatTime(when) {
    const now = new Date();
    const time = when.toLocaleTimeString([], { hour: "numeric", minute: "2-digit" });
    if (when.toDateString() === now.toDateString()) return time;
    const sameYear = when.getFullYear() === now.getFullYear();
    const day = when.toLocaleDateString([], {
      month: "short",
      day: "numeric",
      year: sameYear ? undefined : "numeric",
    });
    return `${day}, ${time}`;
  }

  // ---- name -------------------------------------------------------------------------------

  function nameProblem(value) {
    const trimmed = value.trim();
    if (!trimmed) return "Enter a name.";
    if (length(trimmed) > maxName) return `Names are at most ${maxName} characters.`;
    if (/[\u0000-\u001f\u007f-\u009f]/.test(trimmed)) return "Names cannot contain control characters.";
    return null;
  }

  function showMe() {
    me.textContent = name;
    paintAvatar(meAvatar, name || "?");
    who.hidden = !name;
    $("change-name").hidden = Boolean(account);
  }

  function askName(problem, value) {
    nameInput.value = value === undefined ? name : value;
    nameError.textContent = problem || "";
    nameError.hidden = !problem;
    nameInput.setAttribute("aria-invalid", problem ? "true" : "false");
    nameCancel.hidden = !(name && online);
    if (!dialog.open) dialog.showModal();
    nameInput.focus();
    nameInput.select();
  }

  nameForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const problem = nameProblem(nameInput.value);
    if (problem) {
      askName(problem, nameInput.value);
      return;
    }
    const chosen = nameInput.value.trim();
    dialog.close();
    if (chosen === name && online) return;
    name = chosen;
    remember(name);
    showMe();
    reconnectNow();
  });

  nameCancel.addEventListener("click", () => dialog.close());

  dialog.addEventListener("cancel", (event) => {
    if (!(name && online)) event.preventDefault(); // a name is needed to chat
  });

  dialog.addEventListener("close", () => input.focus());

  $("change-name").addEventListener("click", () => askName(null));

  // ---- connection ---------------------------------------------------------------------------

  function setStatus(state, text, detail) {
    statusEl.dataset.state = state;
    statusEl.textContent = text;
    statusEl.title = detail || "";
    online = state === "online";
    sendButton.disabled = !online;
    laterButton.disabled = !online;
  }

  function socketUrl(afterSeq) {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const path = `/ws/rooms/${encodeURIComponent(room)}/?name=${encodeURIComponent(name)}`;
    // Resume: the server sends exactly what was said since the newest message shown.
    const resume = afterSeq === null ? "" : `&after_seq=${afterSeq}`;
    return `${scheme}//${location.host}${path}${resume}`;
  }

  function connect() {
    stopReconnectTimers();
    setStatus("connecting", "Connecting…");
    const afterSeq = timeline.resumeAfter();
    timeline.connected(afterSeq !== null);
    const socket = new WebSocket(socketUrl(afterSeq));
    ws = socket;
    socket.addEventListener("message", (event) => {
      if (socket !== ws) return;
      let data;
      try {
        data = JSON.parse(event.data);
      } catch (err) {
        return;
      }
      handle(data);
    });
    socket.addEventListener("close", (event) => {
      if (socket !== ws) return;
      ws = null;
      dropped();
      if (event.code === CLOSE_BAD_REQUEST) {
        setStatus("offline", "Not connected");
        return; // the error event before the close said why; the user fixes it
      }
      scheduleReconnect(CLOSE_REASONS[event.code]);
    });
  }

  // Sends still waiting for their ack stay pending: they go out again after the reconnect.
  function dropped() {
    requests = [];
    loadingNewer = false;
    listAgain = false;
    if (scheduleDraft && scheduleDraft.sent) scheduleFailed(FRIENDLY.offline);
    loadingOlder = false;
    timeline.disconnected();
    clearTimeout(fetchTimer);
    fetchTimer = null;
    updateMarker();
  }

  function reconnectNow() {
    if (ws) {
      const old = ws;
      ws = null;
      dropped();
      old.close(1000);
    }
    retries = 0;
    connect();
  }

  // Exponential backoff with jitter, so pages that lost one server do not return all at once.
  function scheduleReconnect(reason) {
    const ceiling = Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** retries);
    const delay = ceiling * (0.5 + Math.random() / 2);
    const due = Date.now() + delay;
    retries += 1;
    const countdown = () => {
      const seconds = Math.max(1, Math.ceil((due - Date.now()) / 1000));
      const text = reason ? `${reason}. Retrying in ${seconds}s…` : `Reconnecting in ${seconds}s…`;
      setStatus("reconnecting", text, reason || "The connection was lost");
    };
    countdown();
    countdownTimer = setInterval(countdown, 1000);
    reconnectTimer = setTimeout(connect, delay);
  }

  function stopReconnectTimers() {
    clearTimeout(reconnectTimer);
    clearInterval(countdownTimer);
    reconnectTimer = null;
    countdownTimer = null;
  }

  window.addEventListener("online", () => {
    if (reconnectTimer !== null) reconnectNow();
  });

  function send(event, request) {
    if (!online || !ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(event));
    requests.push(request);
    return true;
  }

  // A frame that gets no answer (nothing to track); false when not connected.
  function sendQuiet(event) {
    if (!online || !ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(event));
    return true;
  }

  // An unacknowledged job event is delivered again on the next connect, so a lost
  // job.seen only means the link shows once more.
  const exportsUi = window.ChatExports.create({
    room,
    name: () => name,
    seen: (id) => sendQuiet({ type: "job.seen", id }),
  });

  const presenceUi = window.ChatPresence.create({ me: () => name, paintAvatar });

  const searchUi = window.ChatSearch.create({
    room,
    send: (event) => send(event, { kind: "search" }),
    formatTime,
    jumpTo,
  });

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
    return send({ type: "message", text, client_id: clientId }, { kind: "message", clientId });
  }

  // ---- events from the server ------------------------------------------------------------

  function handle(event) {
    switch (event.type) {
      case "welcome":
        requests = [];
        setStatus("online", "Connected", `Connected to #${event.room} through ${event.worker}`);
        if (event.name && event.name !== name) {
          name = event.name;
          showMe();
        }
        hideNotice();
        // The same client_id again: the server stores nothing twice and repeats its ack.
        forgetHeld();
        for (const entry of outbox.toResend()) sendMessage(entry);
        requestScheduled();
        break;
      case "history":
        onHistory(event);
        break;
      case "message":
        onLiveMessage(event);
        break;
      case "batch":
        event.events.forEach(handle);
        break;
      case "ack":
        acknowledge(event);
        break;
      case "error":
        onError(event);
        break;
      case "scheduled":
        onScheduled(event);
        break;
      case "typing":
        onTyping(event);
        break;
      case "scheduled.list":
        takeRequest((r) => r.kind === "list");
        showScheduled(event.items);
        if (listAgain) {
          listAgain = false;
          requestScheduled();
        }
        break;
      case "job":
        exportsUi.onJob(event);
        break;
      case "presence":
        presenceUi.snapshot(event);
        break;
      case "presence.join":
      case "presence.leave":
        presenceUi.change(event);
        break;
      case "presence.count":
        presenceUi.count(event);
        break;
      case "search":
        takeRequest((r) => r.kind === "search");
        searchUi.onResults(event);
        break;
      case "scheduled.cancelled":
        takeRequest((r) => r.kind === "cancel" && r.id === event.id);
        showScheduled(scheduledItems.filter((item) => item.id !== event.id));
        requestScheduled();
        break;
      default:
        break;
    }
  }

  function takeRequest(match) {
    const index = requests.findIndex(match);
    return index < 0 ? null : requests.splice(index, 1)[0];
  }

  // A history event says by its echoed cursor what it is: `after_seq` pages fill in newer
  // messages (the catch-up after a resume, a gap), the others are the newest or an older page.
  function onHistory(event) {
    let kind = historyKind(event);
    if (kind === null) {
      kind = takeRequest((r) => r.kind === "older") ? "older" : "newest"; // no cursor echoed
    } else if (kind === "older") {
      takeRequest((r) => r.kind === "older");
    }
    const now = Date.now();
    if (kind === "around") {
      onWindow(event, now);
    } else if (kind === "after" && takeRequest((r) => r.kind === "newer" && r.after === event.after_seq)) {
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
      renderDays();
      list.scrollTop = list.scrollHeight - fromBottom; // keep the reader where they were
    } else {
      retries = 0; // served, not just accepted: a server that cannot read history backs off
      const first = !historyLoaded;
      const stick = first || isNearBottom();
      const result = timeline.receiveHistory(event, now, kind);
      if (result.answered) takeRequest((r) => r.kind === "gap");
      if (kind === "newest" && takeRequest((r) => r.kind === "latest")) loadingNewer = false;
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
    if (!send({ type: "history", around_seq: seq, limit: PAGE }, { kind: "around" })) {
      showNotice("Not connected, so that message cannot be shown. Try again once the page has reconnected.");
      return;
    }
    jumpTarget = seq;
  }

  function onWindow(event, now) {
    takeRequest((r) => r.kind === "around");
    const result = timeline.receiveHistory(event, now, "around");
    clearShown();
    showAll(event.messages, result.fresh);
    hasMore = event.has_more;
    loadingOlder = false;
    loadingNewer = false;
    historyLoaded = true;
    updateMarker();
    renderDays();
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
    if (send({ type: "history", after_seq: after, limit: PAGE }, { kind: "newer", after })) {
      loadingNewer = true;
    }
  }

  function backToLatest() {
    if (send({ type: "history", limit: PAGE }, { kind: "latest" })) loadingNewer = true;
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

  // ---- day separators and relative times ---------------------------------------------------

  let daysQueued = false;

  function queueDays() {
    if (daysQueued) return;
    daysQueued = true;
    requestAnimationFrame(renderDays);
  }

  // One separator before the first message of each day, in list order. Separators appear
  // above what the reader looks at (older pages, the first page), so the distance to the
  // bottom is kept, which also keeps a reader at the newest message there.
  function renderDays() {
    daysQueued = false;
    const fromBottom = list.scrollHeight - list.scrollTop;
    const now = new Date();
    let previous = null;
    for (const item of list.querySelectorAll("li.message, li.day")) {
      if (item.classList.contains("day")) {
        item.remove();
        continue;
      }
      const when = new Date(Number(item.dataset.ts));
      const key = dayKey(when);
      if (key !== previous) {
        const day = document.createElement("li");
        day.className = "day";
        const label = document.createElement("span");
        label.textContent = dayLabel(when, now);
        day.append(label);
        list.insertBefore(day, item);
        previous = key;
      }
    }
    list.scrollTop = list.scrollHeight - fromBottom;
  }

  function stampText(when, now) {
    return relativeTime(when, now) || formatTime(when);
  }

  // "5 minutes ago" goes stale: refresh the stamps (and "Today" after midnight) now and then.
  setInterval(() => {
    const now = new Date();
    for (const stamp of list.querySelectorAll("time.stamp")) {
      stamp.textContent = stampText(new Date(stamp.dateTime), now);
    }
    queueDays();
  }, 30 * 1000);

  function onLiveMessage(message) {
    stopTyping(message.author); // their message is here: they are done typing it
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
    } else if (verdict.added && message.author !== name) {
      unread += 1;
      jump.textContent = unread === 1 ? "1 new message ↓" : `${unread} new messages ↓`;
      jump.hidden = false;
    }
    if (verdict.added && document.hidden) updateTitle(1);
    // One of ours arriving may be a scheduled one going out: the list changes then.
    if (verdict.added && message.author === name && scheduledItems.length) requestScheduled();
    fetchMissing();
  }

  // Pub/sub may lose broadcasts and seqs may have holes: the timeline says which range to ask
  // for next (one request at a time) and when to look again.
  function fetchMissing() {
    clearTimeout(fetchTimer);
    fetchTimer = null;
    if (!online) return;
    const now = Date.now();
    const request = timeline.nextRequest(now);
    if (request && !send(request, { kind: "gap" })) timeline.requestFailed(now);
    const wait = timeline.wakeIn(now);
    if (wait !== null) fetchTimer = setTimeout(fetchMissing, Math.max(50, wait));
  }

  function loadOlder() {
    if (loadingOlder || !hasMore || timeline.size === 0) return;
    const oldest = timeline.lowestShown();
    if (send({ type: "history", before_seq: oldest, limit: PAGE }, { kind: "older" })) {
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
      input.focus();
      return;
    }
    scrollToBottom();
    jump.hidden = true;
    unread = 0;
    input.focus();
  });

  function insertMessage(message, before) {
    const item = document.createElement("li");
    fillMessage(item, message);
    place(item, message.seq, before);
  }

  // Our own message, shown since its ack: now with the server's time and text as stored.
  function refreshLocal(message) {
    const existing = shown.get(message.seq);
    if (!existing || !existing.classList.contains("local")) return;
    fillMessage(existing, message);
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

  function fillMessage(item, message) {
    const when = new Date(message.ts);
    item.className = "message";
    item.classList.toggle("own", message.author === name);
    item.dataset.seq = message.seq === undefined ? "" : String(message.seq);
    item.dataset.author = message.author;
    item.dataset.ts = String(when.getTime());
    item.replaceChildren();

    const avatar = document.createElement("span");
    avatar.className = "avatar";
    avatar.setAttribute("aria-hidden", "true");
    paintAvatar(avatar, message.author);

    const bubble = document.createElement("div");
    bubble.className = "bubble";
    const meta = document.createElement("p");
    meta.className = "meta";
    const author = document.createElement("span");
    author.className = "author";
    author.textContent = message.author;
    meta.append(author);
    if (!message.account) {
      // Anyone may pick a guest name; only an account's name is vouched for.
      const tag = document.createElement("span");
      tag.className = "guest-tag";
      tag.textContent = "guest";
      tag.title = "Not signed in";
      meta.append(tag);
    }
    const text = document.createElement("p");
    text.className = "text";
    // Links as DOM nodes: the text stays text, hrefs are only ever http(s) URLs.
    for (const part of linkParts(message.text)) {
      if (!part.href) {
        text.append(document.createTextNode(part.text));
        continue;
      }
      const link = document.createElement("a");
      link.href = part.href;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      link.textContent = part.text;
      text.append(link);
    }
    const time = document.createElement("time");
    time.className = "stamp";
    time.dateTime = when.toISOString();
    time.title = when.toLocaleString();
    time.textContent = stampText(when, new Date());
    bubble.append(meta, text, time);
    item.append(avatar, bubble);
  }

  function nextMessage(item) {
    let next = item.nextElementSibling;
    while (next && !next.classList.contains("message")) next = next.nextElementSibling;
    return next;
  }

  function previousMessage(item) {
    let prev = item.previousElementSibling;
    while (prev && !prev.classList.contains("message")) prev = prev.previousElementSibling;
    return prev;
  }

  // A message continues its predecessor's group: same author, a few minutes apart, same day.
  function regroup(item) {
    if (!item) return;
    const prev = previousMessage(item);
    const continued =
      prev !== null &&
      prev.dataset.author === item.dataset.author &&
      Math.abs(Number(item.dataset.ts) - Number(prev.dataset.ts)) < GROUP_MS &&
      new Date(Number(item.dataset.ts)).toDateString() === new Date(Number(prev.dataset.ts)).toDateString();
    item.classList.toggle("continued", continued);
  }

  function acknowledge(event) {
    takeRequest((r) => r.kind === "message" && r.clientId === event.client_id);
    const entry = outbox.acknowledge(event.client_id);
    unhold(event.client_id);
    if (!entry) return; // a repeated ack of a message shown already
    const item = entry.item;
    const after = nextMessage(item);
    item.remove();
    regroup(after);
    const verdict = timeline.receiveLive(event.seq, Date.now());
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
    item.dataset.seq = String(event.seq);
    place(item, event.seq, verdict.before);
    fetchMissing();
  }

  function onError(event) {
    if (event.code === "invalid_name" || event.code === "name_taken") {
      const refused = name;
      name = "";
      remember("");
      showMe();
      askName(sentence(event.message), refused);
      return;
    }
    let clientId = event.client_id || null;
    if (clientId && takeRequest((r) => r.kind === "schedule" && r.clientId === clientId)) {
      scheduleFailed(FRIENDLY[event.code] || sentence(event.message));
      return;
    }
    if (clientId) {
      takeRequest((r) => r.kind === "message" && r.clientId === clientId);
    } else {
      const request = requests.length ? requests.shift() : null;
      if (request && request.kind === "message") {
        clientId = request.clientId;
      } else if (request && request.kind === "older") {
        loadingOlder = false;
        updateMarker();
      } else if (request && request.kind === "gap") {
        timeline.requestFailed(Date.now()); // asked again later; nothing the reader can do
        fetchMissing();
        return;
      } else if (request && request.kind === "schedule") {
        scheduleFailed(FRIENDLY[event.code] || sentence(event.message));
        return;
      } else if (request && request.kind === "list") {
        listAgain = false; // the list stays as it was; it is asked for again on the next change
      } else if (request && request.kind === "cancel") {
        showScheduled(scheduledItems); // enables its Cancel button again
        requestScheduled();
      } else if (request && request.kind === "search") {
        // FRIENDLY's rate_limited speaks of sending; the server's own words fit a search.
        const text = event.code === "rate_limited" ? null : FRIENDLY[event.code];
        searchUi.onError(text || sentence(event.message));
        return;
      } else if (request && ["around", "newer", "latest"].includes(request.kind)) {
        loadingNewer = false;
        jumpTarget = null;
      }
    }
    const entry = clientId ? outbox.get(clientId) : null;
    if (entry && event.code === "rate_limited" && event.retry_after_ms) {
      hold(entry, event.retry_after_ms);
      return;
    }
    if (entry) {
      unhold(clientId);
      markFailed(outbox.fail(clientId).item);
    }
    showNotice(FRIENDLY[event.code] || sentence(event.message));
  }

  function showNotice(text) {
    noticeText.textContent = text;
    notice.hidden = false;
  }

  function hideNotice() {
    notice.hidden = true;
    noticeText.textContent = "";
  }

  $("notice-close").addEventListener("click", () => {
    hideNotice();
    input.focus();
  });

  // ---- sending ----------------------------------------------------------------------------

  function newClientId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return `${Date.now()}-${Math.random().toString(16).slice(2)}`;
  }

  function markFailed(item) {
    if (item.classList.contains("failed")) return;
    item.classList.remove("pending");
    item.classList.add("failed");
    const status = document.createElement("p");
    status.className = "delivery";
    const label = document.createElement("span");
    label.textContent = "Not sent.";
    const retry = document.createElement("button");
    retry.type = "button";
    retry.className = "ghost small";
    retry.textContent = "Retry";
    status.append(label, retry);
    item.querySelector(".bubble").append(status);
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
    composer.requestSubmit();
  });

  composer.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value;
    if (!text.trim()) return;
    if (length(text) > maxText) {
      showNotice(FRIENDLY.text_too_long);
      return;
    }
    const clientId = newClientId();
    if (timeline.detached) backToLatest(); // a new message belongs under the newest ones
    const queued = held.length > 0; // behind messages waiting out rate_limited
    if (!queued && !sendMessage({ clientId, text })) {
      showNotice(FRIENDLY.offline);
      return;
    }
    hideNotice();
    const item = document.createElement("li");
    fillMessage(item, { author: name, account: account || null, text, ts: new Date().toISOString() });
    item.classList.add("pending");
    const entry = outbox.add(clientId, text);
    entry.item = item;
    if (queued) held.push(entry);
    list.appendChild(item);
    regroup(item);
    updateEmpty();
    scrollToBottom();
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

  // ---- typing -----------------------------------------------------------------------------

  const TYPING_SEND_MS = 3000; // while typing, tell the room at most this often
  const TYPING_SHOW_MS = 4000; // show someone as typing this long after their last signal
  const typingEl = document.getElementById("typing");
  const typists = new Map(); // name -> timer that removes them

  input.addEventListener("input", () => {
    const now = Date.now();
    if (!input.value.trim() || now - typingSentAt < TYPING_SEND_MS) return;
    if (sendQuiet({ type: "typing" })) typingSentAt = now;
  });

  function onTyping(event) {
    if (event.name === name) return;
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

  function isNearBottom() {
    return list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  }

  function scrollToBottom() {
    list.scrollTop = list.scrollHeight;
  }

  const baseTitle = document.title;
  let titleUnread = 0;
  function updateTitle(more) {
    titleUnread = more ? titleUnread + more : 0;
    document.title = titleUnread ? `(${titleUnread}) ${baseTitle}` : baseTitle;
  }
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) updateTitle(0);
  });

  // ---- send later -------------------------------------------------------------------------

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

  function openSchedule() {
    const text = input.value;
    if (!text.trim()) {
      showNotice("Type the message first, then pick when to send it.");
      input.focus();
      return;
    }
    if (length(text) > maxText) {
      showNotice(FRIENDLY.text_too_long);
      return;
    }
    hideNotice();
    schedulePreview.textContent = text;
    const now = new Date();
    // A suggestion: the next quarter hour at least ten minutes away.
    const suggested = new Date(now.getTime() + 10 * 60 * 1000);
    suggested.setMinutes(Math.ceil(suggested.getMinutes() / 15) * 15, 0, 0);
    if (!scheduleAt.value || new Date(scheduleAt.value) <= now) {
      scheduleAt.value = localInputValue(suggested);
    }
    scheduleAt.min = localInputValue(now);
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone) {
      $("schedule-help").textContent =
        `Time in ${zone}. Up to a year ahead; a time that has passed sends at once.`;
    }
    setScheduleError(null);
    scheduleSubmit.disabled = false;
    scheduleSubmit.textContent = "Schedule";
    scheduleDialog.showModal();
    scheduleAt.focus();
  }

  function setScheduleError(problem) {
    scheduleError.textContent = problem || "";
    scheduleError.hidden = !problem;
    scheduleAt.setAttribute("aria-invalid", problem ? "true" : "false");
  }

  function scheduleFailed(problem) {
    if (scheduleDraft) scheduleDraft.sent = false;
    scheduleSubmit.disabled = false;
    scheduleSubmit.textContent = "Schedule";
    if (scheduleDialog.open) setScheduleError(problem);
    else showNotice(problem);
  }

  laterButton.addEventListener("click", openSchedule);

  $("schedule-cancel").addEventListener("click", () => scheduleDialog.close());

  scheduleDialog.addEventListener("close", () => input.focus());

  scheduleForm.addEventListener("submit", (event) => {
    event.preventDefault();
    if (scheduleDraft && scheduleDraft.sent) return; // answer still on its way
    const when = scheduleAt.value ? new Date(scheduleAt.value) : null;
    if (!when || Number.isNaN(when.getTime())) {
      setScheduleError("Pick a date and time.");
      return;
    }
    const text = input.value;
    const deliverAt = isoWithOffset(when);
    // The same request again (after an error or a lost answer) keeps its client_id, so the
    // server schedules it once.
    if (!scheduleDraft || scheduleDraft.text !== text || scheduleDraft.deliverAt !== deliverAt) {
      scheduleDraft = { clientId: newClientId(), text, deliverAt, sent: false };
    }
    const { clientId } = scheduleDraft;
    const sent = send(
      { type: "schedule", text, deliver_at: deliverAt, client_id: clientId },
      { kind: "schedule", clientId },
    );
    if (!sent) {
      setScheduleError(FRIENDLY.offline);
      return;
    }
    scheduleDraft.sent = true;
    setScheduleError(null);
    scheduleSubmit.disabled = true;
    scheduleSubmit.textContent = "Scheduling…";
  });

  function onScheduled(event) {
    takeRequest((r) => r.kind === "schedule" && r.clientId === event.client_id);
    if (!scheduleDraft || scheduleDraft.clientId !== event.client_id) return;
    if (input.value === scheduleDraft.text) {
      input.value = "";
      resizeInput();
    }
    scheduleDraft = null;
    scheduleAt.value = "";
    scheduleDialog.close();
    scheduledBox.open = true;
    requestScheduled();
  }

  // One list request at a time; a change while one is out asks once more after it.
  function requestScheduled() {
    if (requests.some((r) => r.kind === "list")) {
      listAgain = true;
      return;
    }
    send({ type: "scheduled.list" }, { kind: "list" });
  }

  function showScheduled(items) {
    scheduledItems = items;
    clearTimeout(scheduledTimer);
    scheduledTimer = null;
    scheduledBox.hidden = items.length === 0;
    scheduledSummary.textContent = `Scheduled (${items.length})`;
    scheduledList.replaceChildren(...items.map(scheduledItem));
    if (items.length) {
      // Look again just after the earliest is due: by then it has gone out.
      const next = Math.min(...items.map((item) => new Date(item.deliver_at).getTime()));
      const wait = Math.min(MAX_TIMER_MS, Math.max(1000, next - Date.now() + 1500));
      scheduledTimer = setTimeout(requestScheduled, wait);
    }
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

  scheduledList.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    const id = button.closest(".scheduled-item").dataset.id;
    if (send({ type: "scheduled.cancel", id }, { kind: "cancel", id })) {
      button.disabled = true;
    } else {
      showNotice("Not connected, so nothing was cancelled. Try again once the page has reconnected.");
    }
  });

  // ---- start ------------------------------------------------------------------------------

  setStatus("idle", "Not connected");
  if (nameProblem(name)) {
    name = "";
    showMe();
    askName(null);
  } else {
    showMe();
    connect();
  }
})();
