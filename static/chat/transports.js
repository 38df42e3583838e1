// The ways to reach the room's session: a WebSocket, else an event stream (Server-Sent Events)
// with frames POSTed, else long-polling with frames POSTed (docs/protocol.md#http-transports).
// Each takes the same callbacks: `opened()` once it carries events, `receive(event)` for
// every event, `closed(code)` once when it is gone; and gives `send(event)` and `close()`.

const POLL_WAIT_S = 25;
const CLOSE_BAD_REQUEST = 4400;

export const TRANSPORTS = ["websocket", "stream", "poll"];
export const TRANSPORT_NAMES = {
  websocket: "",
  stream: "event stream",
  poll: "long-polling",
};

function query(name, afterSeq) {
  const resume = afterSeq === null ? "" : `&after_seq=${afterSeq}`;
  return `?name=${encodeURIComponent(name)}${resume}`;
}

function parse(text) {
  try {
    return JSON.parse(text);
  } catch (err) {
    return null;
  }
}

// The room's WebSocket address (a resume when `afterSeq` is not null).
export function socketUrl(room, name, afterSeq) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws/rooms/${encodeURIComponent(room)}/${query(name, afterSeq)}`;
}

export function openTransport(kind, { room, name, afterSeq, opened, receive, closed }) {
  const base = `/api/rooms/${encodeURIComponent(room)}`;
  let ended = false;
  let shut = () => {}; // closes what this transport holds open
  const end = (code) => {
    if (ended) return;
    ended = true;
    shut();
    closed(code);
  };
  const close = () => {
    ended = true;
    shut();
  };
  // Over HTTP a frame's answer comes back as the response: the events a socket would send.
  const post = (event) => {
    fetch(`${base}/frames?name=${encodeURIComponent(name)}`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(event),
      credentials: "same-origin",
    })
      .then(async (response) => {
        const body = await response.json();
        if (response.ok) body.events.forEach((e) => !ended && receive(e));
        else if (!ended) receive({ type: "error", code: body.code, message: body.message, client_id: event.client_id });
      })
      .catch(() => end(0)); // the server is away: reconnect, and what is pending goes again
    return true;
  };

  if (kind === "websocket") {
    const socket = new WebSocket(socketUrl(room, name, afterSeq));
    socket.addEventListener("open", opened);
    socket.addEventListener("message", (event) => {
      const data = parse(event.data);
      if (data && !ended) receive(data);
    });
    socket.addEventListener("close", (event) => end(event.code));
    shut = () => socket.close(1000);
    return {
      send: (event) => {
        if (ended || socket.readyState !== WebSocket.OPEN) return false;
        socket.send(JSON.stringify(event));
        return true;
      },
      close,
    };
  }

  if (kind === "stream") {
    // Closed on its first error: the page resumes by its own timeline, not the browser's retry.
    const source = new EventSource(`${base}/stream${query(name, afterSeq)}`);
    source.addEventListener("open", opened);
    source.addEventListener("message", (event) => {
      const data = parse(event.data);
      if (data && !ended) receive(data);
    });
    // The session ended as a socket closes: the code says whether to come back.
    source.addEventListener("close", (event) => end(Number(event.data)));
    source.addEventListener("error", () => end(0));
    shut = () => source.close();
    return { send: (event) => !ended && post(event), close };
  }

  // Long-polling: the first request answers at once as a socket opens; each next one waits.
  const controller = new AbortController();
  const poll = async () => {
    let url = `${base}/events${query(name, afterSeq)}&welcome=true`;
    while (!ended) {
      const response = await fetch(url, { credentials: "same-origin", signal: controller.signal });
      const body = await response.json();
      if (!response.ok) {
        receive({ type: "error", code: body.code, message: body.message });
        // Refused as a socket is: a bad name is for the user to fix, a limit is waited out.
        end(response.status === 422 ? CLOSE_BAD_REQUEST : 0);
        return;
      }
      if (url.includes("welcome=true")) opened();
      body.events.forEach((e) => !ended && receive(e));
      url = `${base}/events?name=${encodeURIComponent(name)}&after_seq=${body.last_seq}&wait_s=${POLL_WAIT_S}`;
    }
  };
  shut = () => controller.abort();
  poll().catch(() => end(0));
  return { send: (event) => !ended && post(event), close };
}
