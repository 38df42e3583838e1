// The room's one connection: connecting and the status line, reconnecting with backoff,
// resuming with `?after_seq=` from the newest message shown, and the requests waiting for
// their answer. What arrives goes to `receive`; what the page shows is decided elsewhere.
// A WebSocket that cannot open gives way to an event stream, and that to long-polling
// (transports.js); a WebSocket is tried again now and then.
import { TRANSPORTS, TRANSPORT_NAMES, openTransport, socketUrl } from "./transports.js";

const CLOSE_BAD_REQUEST = 4400;
// Refused by a connection limit: said in the status line while the page tries again.
const CLOSE_REASONS = {
  4429: "Too many connections from your network",
  4503: "The server is full",
};
const RECONNECT_BASE_MS = 500;
const RECONNECT_MAX_MS = 30000;
// Attempts in a row that never opened before the next transport is tried.
const FAILURES_BEFORE_FALLBACK = 3;
// On a fallback, how often a WebSocket is tried again.
const WEBSOCKET_RETRY_MS = 60000;

// `timeline` tells where to resume; `receive(event)` gets every parsed frame;
// `statusChanged(online)` follows the status line; `welcomed(event)` after the server's
// welcome; `dropped()` when the socket is gone and nothing asked for is coming.
export function createConnection({ room, name, timeline, receive, statusChanged, welcomed, dropped }) {
  const statusEl = document.getElementById("status");
  let link = null; // the open transport: { send, close }
  let kind = TRANSPORTS[0];
  let failures = 0; // attempts of `kind` in a row that never opened
  let probeTimer = null;
  let online = false;
  let retries = 0;
  let reconnectTimer = null;
  let countdownTimer = null;
  // Requests waiting for their answer, in the order sent: the server answers each frame in
  // turn, so an error that names no client_id belongs to the oldest one.
  let requests = [];

  function setStatus(state, text, detail) {
    statusEl.dataset.state = state;
    statusEl.dataset.transport = kind;
    const via = TRANSPORT_NAMES[kind];
    statusEl.textContent = via && state === "online" ? `${text} · ${via}` : text;
    statusEl.title = detail || "";
    online = state === "online";
    statusChanged(online);
  }

  function connect() {
    stopReconnectTimers();
    setStatus("connecting", "Connecting…");
    const afterSeq = timeline.resumeAfter();
    timeline.connected(afterSeq !== null);
    let opened = false;
    const current = openTransport(kind, {
      room,
      name: name(),
      afterSeq,
      opened: () => {
        opened = true;
        failures = 0;
      },
      receive: (event) => {
        if (current === link) receive(event);
      },
      closed: (code) => {
        if (current !== link) return;
        link = null;
        lost();
        if (code === CLOSE_BAD_REQUEST) {
          setStatus("offline", "Not connected");
          return; // the error event before the close said why; the user fixes it
        }
        if (!opened) fallBack();
        scheduleReconnect(CLOSE_REASONS[code]);
      },
    });
    link = current;
  }

  // A transport that never opened FAILURES_BEFORE_FALLBACK times in a row gives way to the next.
  function fallBack() {
    failures += 1;
    const next = TRANSPORTS.indexOf(kind) + 1;
    if (failures < FAILURES_BEFORE_FALLBACK || next >= TRANSPORTS.length) return;
    kind = TRANSPORTS[next];
    failures = 0;
    retries = 0;
    if (probeTimer === null) probeTimer = setInterval(probeWebSocket, WEBSOCKET_RETRY_MS);
  }

  // On a fallback: a WebSocket that opens now takes over (a resume, so nothing is lost).
  function probeWebSocket() {
    const probe = new WebSocket(socketUrl(room, name(), null));
    probe.addEventListener("open", () => {
      probe.close(1000);
      clearInterval(probeTimer);
      probeTimer = null;
      kind = TRANSPORTS[0];
      reconnectNow();
    });
  }

  // Sends still waiting for their ack stay pending: they go out again after the reconnect.
  function lost() {
    requests = [];
    dropped();
  }

  function reconnectNow() {
    if (link) {
      const old = link;
      link = null;
      lost();
      old.close();
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

  // The network changed: a fallback tries a WebSocket at once, a wait for a retry ends.
  window.addEventListener("online", () => {
    if (kind !== TRANSPORTS[0]) probeWebSocket();
    else if (reconnectTimer !== null) reconnectNow();
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
    return online && link !== null && link.send(event);
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
