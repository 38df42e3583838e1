// The room's one native WebSocket: connecting and the status line, reconnecting with backoff,
// resuming with `?after_seq=` from the newest message shown, and the requests waiting for
// their answer. What arrives goes to `receive`; what the page shows is decided elsewhere.

const CLOSE_BAD_REQUEST = 4400;
// Refused by a connection limit: said in the status line while the page tries again.
const CLOSE_REASONS = {
  4429: "Too many connections from your network",
  4503: "The server is full",
};
const RECONNECT_BASE_MS = 500;
const RECONNECT_MAX_MS = 30000;

// `timeline` tells where to resume; `receive(event)` gets every parsed frame;
// `statusChanged(online)` follows the status line; `welcomed(event)` after the server's
// welcome; `dropped()` when the socket is gone and nothing asked for is coming.
export function createConnection({ room, name, timeline, receive, statusChanged, welcomed, dropped }) {
  const statusEl = document.getElementById("status");
  let ws = null;
  let online = false;
  let retries = 0;
  let reconnectTimer = null;
  let countdownTimer = null;
  // Requests waiting for their answer, in the order sent: the server answers each frame in
  // turn, so an error that names no client_id belongs to the oldest one.
  let requests = [];

  function setStatus(state, text, detail) {
    statusEl.dataset.state = state;
    statusEl.textContent = text;
    statusEl.title = detail || "";
    online = state === "online";
    statusChanged(online);
  }

  function socketUrl(afterSeq) {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const path = `/ws/rooms/${encodeURIComponent(room)}/?name=${encodeURIComponent(name())}`;
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
      receive(data);
    });
    socket.addEventListener("close", (event) => {
      if (socket !== ws) return;
      ws = null;
      lost();
      if (event.code === CLOSE_BAD_REQUEST) {
        setStatus("offline", "Not connected");
        return; // the error event before the close said why; the user fixes it
      }
      scheduleReconnect(CLOSE_REASONS[event.code]);
    });
  }

  // Sends still waiting for their ack stay pending: they go out again after the reconnect.
  function lost() {
    requests = [];
    dropped();
  }

  function reconnectNow() {
    if (ws) {
      const old = ws;
      ws = null;
      lost();
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

  function welcome(event) {
    requests = [];
    setStatus("online", "Connected", `Connected to #${event.room} through ${event.worker}`);
    welcomed(event);
  }

  // A frame whose answer is tracked as `request` ({ kind, ... }); false when not connected.
  function send(event, request) {
    if (!sendQuiet(event)) return false;
    requests.push(request);
    return true;
  }

  // A frame that gets no answer (nothing to track); false when not connected.
  function sendQuiet(event) {
    if (!online || !ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(event));
    return true;
  }

  // The first request waiting that `match`es, no longer waiting; null when none does.
  function take(match) {
    const index = requests.findIndex(match);
    return index < 0 ? null : requests.splice(index, 1)[0];
  }

  return {
    get online() {
      return online;
    },
    start: () => setStatus("idle", "Not connected"),
    connect,
    reconnectNow,
    welcome,
    send,
    sendQuiet,
    take,
    waiting: (match) => requests.some(match),
    oldest: () => (requests.length ? requests.shift() : null),
    // History was served, not just the socket accepted: a server that cannot read it backs off.
    served: () => {
      retries = 0;
    },
  };
}
