// The room page's entry module: makes each part (connection, name, list of messages,
// composer, scheduling, search, exports, presence), wires them together, and routes every
// event from the server to the part it is for. Nothing is shared through `window`.
import { createComposer } from "./composer.js";
import { createConnection } from "./connection.js";
import { createExports } from "./exports.js";
import { createName } from "./name.js";
import { FRIENDLY, explain, hideNotice, room, sentence, showNotice } from "./page.js";
import { createPresence } from "./presence.js";
import { createSchedule } from "./schedule.js";
import { createSearch } from "./search.js";
import { Outbox, Timeline } from "./timeline.js";
import { createTimelineView } from "./timelineview.js";

const timeline = new Timeline(); // which seqs are shown, missing, or holes
const outbox = new Outbox(); // client_id -> { text, state, item }: sent, not yet acknowledged
const me = () => identity.name;

const identity = createName({
  online: () => connection.online,
  chosen: () => connection.reconnectNow(),
  closed: () => composer.focus(),
});
const connection = createConnection({
  room,
  name: me,
  timeline,
  receive: handle,
  statusChanged: (online) => {
    composer.setOnline(online);
    schedule.setOnline(online);
  },
  welcomed,
  dropped,
});
const view = createTimelineView({
  connection,
  timeline,
  outbox,
  me,
  ownMessage: () => schedule.ownMessage(),
  focusComposer: () => composer.focus(),
});
const composer = createComposer({ connection, outbox, view, me });
const schedule = createSchedule({ connection, composer });
// An unacknowledged job event is delivered again on the next connect, so a lost
// job.seen only means the link shows once more.
const exportsUi = createExports({
  room,
  name: me,
  seen: (id) => connection.sendQuiet({ type: "job.seen", id }),
});
const presenceUi = createPresence({ me });
const searchUi = createSearch({
  send: (event) => connection.send(event, { kind: "search" }),
  jumpTo: view.jumpTo,
});

function welcomed(event) {
  identity.welcomed(event.name);
  hideNotice();
  composer.resendPending();
  schedule.request();
}

function dropped() {
  schedule.dropped();
  view.dropped();
}

// One handler per server event type (docs/protocol.md); unknown types are ignored.
const handlers = {
  welcome: (event) => connection.welcome(event),
  history: (event) => view.onHistory(event),
  message: (event) => {
    composer.stopTyping(event.author); // their message is here: they are done typing it
    view.onLiveMessage(event);
  },
  batch: (event) => event.events.forEach(handle),
  ack: (event) => composer.acknowledge(event),
  error: (event) => onError(event),
  typing: (event) => composer.onTyping(event),
  scheduled: (event) => schedule.onScheduled(event),
  "scheduled.list": (event) => schedule.onList(event),
  "scheduled.cancelled": (event) => schedule.onCancelled(event),
  job: (event) => exportsUi.onJob(event),
  presence: (event) => presenceUi.snapshot(event),
  "presence.join": (event) => presenceUi.change(event),
  "presence.leave": (event) => presenceUi.change(event),
  "presence.count": (event) => presenceUi.count(event),
  search: (event) => {
    connection.take((r) => r.kind === "search");
    searchUi.onResults(event);
  },
};

function handle(event) {
  if (Object.hasOwn(handlers, event.type)) handlers[event.type](event);
}

// An error names the client_id it is about, or else answers the oldest request waiting.
function onError(event) {
  if (event.code === "invalid_name" || event.code === "name_taken") {
    identity.refused(sentence(event.message));
    return;
  }
  let clientId = event.client_id || null;
  if (clientId && connection.take((r) => r.kind === "schedule" && r.clientId === clientId)) {
    schedule.failed(explain(event));
    return;
  }
  if (clientId) {
    connection.take((r) => r.kind === "message" && r.clientId === clientId);
  } else {
    const request = connection.oldest();
    switch (request && request.kind) {
      case "message":
        clientId = request.clientId;
        break;
      case "older":
        view.olderFailed();
        break;
      case "gap":
        view.gapFailed();
        return;
      case "schedule":
        schedule.failed(explain(event));
        return;
      case "list":
        schedule.listFailed();
        break;
      case "cancel":
        schedule.cancelFailed();
        break;
      case "search": {
        // FRIENDLY's rate_limited speaks of sending; the server's own words fit a search.
        const text = event.code === "rate_limited" ? null : FRIENDLY[event.code];
        searchUi.onError(text || sentence(event.message));
        return;
      }
      case "around":
      case "newer":
      case "latest":
        view.windowFailed();
        break;
      default:
        break;
    }
  }
  if (composer.refused(clientId, event)) return;
  showNotice(explain(event));
}

connection.start();
if (identity.start()) connection.connect();
