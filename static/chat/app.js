// chatsite page: one native WebSocket per room. Text is only ever inserted with textContent.
(function () {
  "use strict";

  const NAME_KEY = "chatsite.name";
  const CLOSE_BAD_REQUEST = 4400;
  const body = document.body;
  const room = body.dataset.room;
  const maxName = Number(body.dataset.maxName);
  const maxText = Number(body.dataset.maxText);

  const list = document.getElementById("messages");
  const marker = document.getElementById("history-marker");
  const statusEl = document.getElementById("status");
  const notice = document.getElementById("notice");
  const composer = document.getElementById("composer");
  const input = document.getElementById("text");
  const sendButton = document.getElementById("send");
  const me = document.getElementById("me");
  const dialog = document.getElementById("name-dialog");
  const nameForm = document.getElementById("name-form");
  const nameInput = document.getElementById("name");
  const nameError = document.getElementById("name-error");

  let name = localStorage.getItem(NAME_KEY) || "";
  let ws = null;
  let retries = 0;
  let reconnectTimer = null;
  let hasMore = false;
  let loadingOlder = false;
  let newestSeq = 0;
  const shown = new Map(); // seq -> <li>, kept in seq order in the DOM
  const pending = new Map(); // client_id -> <li> not yet acknowledged

  // ---- name -------------------------------------------------------------------------------

  function nameProblem(value) {
    const trimmed = value.trim();
    if (!trimmed) return "Enter a name.";
    if (trimmed.length > maxName) return `Names are at most ${maxName} characters.`;
    if (/[\u0000-\u001f\u007f-\u009f]/.test(trimmed)) return "Names cannot contain control characters.";
    return null;
  }

  function askName(problem) {
    nameInput.value = name;
    nameError.textContent = problem || "";
    nameError.hidden = !problem;
    if (!dialog.open) dialog.showModal();
    nameInput.focus();
  }

  nameForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const problem = nameProblem(nameInput.value);
    if (problem) {
      askName(problem);
      return;
    }
    name = nameInput.value.trim();
    localStorage.setItem(NAME_KEY, name);
    dialog.close();
    me.textContent = name;
    reconnectNow();
  });

  dialog.addEventListener("cancel", (event) => {
    if (!name) event.preventDefault(); // a name is needed to chat
  });

  document.getElementById("change-name").addEventListener("click", () => askName(null));

  // ---- connection ---------------------------------------------------------------------------

  function setStatus(state, text) {
    statusEl.dataset.state = state;
    statusEl.textContent = text;
    sendButton.disabled = state !== "online";
  }

  function socketUrl() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}/ws/rooms/${encodeURIComponent(room)}/?name=${encodeURIComponent(name)}`;
  }

  function connect() {
    clearTimeout(reconnectTimer);
    setStatus("connecting", "Connecting…");
    const socket = new WebSocket(socketUrl());
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
      if (event.code === CLOSE_BAD_REQUEST) {
        setStatus("offline", "Not connected");
        return; // the error event before the close said why; the user fixes it
      }
      scheduleReconnect();
    });
  }

  function reconnectNow() {
    if (ws) {
      const old = ws;
      ws = null;
      old.close(1000);
    }
    retries = 0;
    connect();
  }

  function scheduleReconnect() {
    const delay = Math.min(30000, 500 * 2 ** retries) * (0.5 + Math.random() / 2);
    retries += 1;
    setStatus("reconnecting", `Reconnecting in ${Math.ceil(delay / 1000)}s…`);
    reconnectTimer = setTimeout(connect, delay);
  }

  function send(event) {
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(event));
    return true;
  }

  // ---- events from the server ------------------------------------------------------------

  function handle(event) {
    switch (event.type) {
      case "welcome":
        retries = 0;
        setStatus("online", `Connected · ${event.worker}`);
        hideNotice();
        break;
      case "history":
        addHistory(event);
        break;
      case "message":
        addMessage(event, { stick: isNearBottom() });
        break;
      case "batch":
        event.events.forEach(handle);
        break;
      case "ack":
        acknowledge(event);
        break;
      case "error":
        showError(event);
        break;
      default:
        break;
    }
  }

  function addHistory(event) {
    const older = loadingOlder;
    loadingOlder = false;
    hasMore = event.has_more;
    const before = list.scrollHeight - list.scrollTop;
    const stick = !older && (shown.size === 0 || isNearBottom());
    event.messages.forEach((message) => addMessage(message, { stick: false }));
    marker.hidden = false;
    marker.textContent = hasMore ? "Scroll up for older messages" : "Beginning of #" + room;
    if (older) {
      list.scrollTop = list.scrollHeight - before; // keep the reader where they were
    } else if (stick) {
      scrollToBottom();
    }
    if (!older && hasMore && list.scrollHeight <= list.clientHeight) loadOlder();
  }

  function loadOlder() {
    if (loadingOlder || !hasMore || shown.size === 0) return;
    const oldest = Math.min(...shown.keys());
    if (send({ type: "history", before_seq: oldest, limit: 50 })) {
      loadingOlder = true;
      marker.textContent = "Loading older messages…";
    }
  }

  list.addEventListener("scroll", () => {
    if (list.scrollTop < 80) loadOlder();
  });

  function addMessage(message, { stick }) {
    if (shown.has(message.seq)) return;
    const item = renderMessage(message);
    // Insert in seq order; live messages are almost always the newest, so check that first.
    let next = null;
    if (message.seq < newestSeq) {
      for (const [seq, el] of shown) {
        if (seq > message.seq && (next === null || seq < Number(next.dataset.seq))) next = el;
      }
    }
    shown.set(message.seq, item);
    newestSeq = Math.max(newestSeq, message.seq);
    list.insertBefore(item, next || firstPending());
    if (stick) scrollToBottom();
  }

  function firstPending() {
    const first = pending.values().next();
    return first.done ? null : first.value;
  }

  function renderMessage(message) {
    const item = document.createElement("li");
    item.className = "message";
    item.dataset.seq = message.seq;
    if (message.author === name) item.classList.add("own");
    const meta = document.createElement("p");
    meta.className = "meta";
    const author = document.createElement("span");
    author.className = "author";
    author.textContent = message.author;
    const time = document.createElement("time");
    const when = new Date(message.ts);
    time.dateTime = when.toISOString();
    time.title = when.toLocaleString();
    time.textContent = when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    meta.append(author, " ", time);
    const text = document.createElement("p");
    text.className = "text";
    text.textContent = message.text;
    item.append(meta, text);
    return item;
  }

  function acknowledge(event) {
    const item = pending.get(event.client_id);
    if (!item) return;
    pending.delete(event.client_id);
    item.remove(); // the stored message arrives (or arrived) as a broadcast with its seq
  }

  function showError(event) {
    if (event.code === "invalid_name") {
      askName(event.message);
      return;
    }
    notice.textContent = `${event.message} (${event.code})`;
    notice.hidden = false;
  }

  function hideNotice() {
    notice.hidden = true;
    notice.textContent = "";
  }

  // ---- sending ----------------------------------------------------------------------------

  function newClientId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return `${Date.now()}-${Math.random().toString(16).slice(2)}`;
  }

  composer.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value;
    if (!text.trim()) return;
    if (text.length > maxText) {
      showError({ code: "text_too_long", message: `Messages are at most ${maxText} characters.` });
      return;
    }
    const clientId = newClientId();
    if (!send({ type: "message", text, client_id: clientId })) {
      showError({ code: "offline", message: "Not connected; your message was not sent." });
      return;
    }
    hideNotice();
    const item = renderMessage({ seq: "", author: name, text, ts: new Date().toISOString() });
    item.classList.add("pending");
    pending.set(clientId, item);
    list.appendChild(item);
    scrollToBottom();
    input.value = "";
    input.focus();
  });

  function isNearBottom() {
    return list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  }

  function scrollToBottom() {
    list.scrollTop = list.scrollHeight;
  }

  // ---- start ------------------------------------------------------------------------------

  setStatus("connecting", "Connecting…");
  if (nameProblem(name)) {
    name = "";
    askName(null);
  } else {
    me.textContent = name;
    connect();
  }
})();
