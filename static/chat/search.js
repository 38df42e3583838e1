// The room's search dialog: `search` requests over the socket, results newest first with the
// match marked, "More results" for older ones, and a click (or Enter) on a result shows it in
// context. Escape closes the dialog (it is a native <dialog>). Text only via textContent.
import { formatTime } from "./page.js";

const LIMIT = 20;

export function createSearch({ send, jumpTo }) {
  const $ = (id) => document.getElementById(id);
  const opener = $("search-open");
  const dialog = $("search-dialog");
  const form = $("search-form");
  const input = $("search-q");
  const status = $("search-status");
  const results = $("search-results");
  const more = $("search-more");
  let query = null; // the query whose results are shown
  let found = 0;
  let oldest = null; // seq of the oldest result shown: where "More results" continues
  let waiting = false;

  function open() {
    if (!dialog.open) dialog.showModal();
    input.focus();
    input.select();
  }

  function ask(beforeSeq) {
    const event = { type: "search", q: query, limit: LIMIT };
    if (beforeSeq !== null) event.before_seq = beforeSeq;
    if (!send(event)) {
      status.textContent = "Not connected. Try again once the page has reconnected.";
      return;
    }
    waiting = true;
    more.disabled = true;
    status.textContent = "Searching…";
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const q = input.value.trim();
    if (!q) {
      status.textContent = "Type a word or phrase to search for.";
      input.focus();
      return;
    }
    query = q;
    found = 0;
    oldest = null;
    results.replaceChildren();
    more.hidden = true;
    ask(null);
  });

  more.addEventListener("click", () => {
    if (!waiting && oldest !== null) ask(oldest);
  });

  $("search-close").addEventListener("click", () => dialog.close());

  // A search field's own Escape only clears it; Escape closes the dialog, as elsewhere.
  input.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    event.preventDefault();
    dialog.close();
  });
  opener.addEventListener("click", open);

  // "/" opens search from anywhere but a text field, as in many chat apps.
  document.addEventListener("keydown", (event) => {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target.closest && target.closest("input, textarea, select, [contenteditable]")) return;
    if (document.querySelector("dialog[open]")) return;
    event.preventDefault();
    open();
  });

  results.addEventListener("click", (event) => {
    const hit = event.target.closest("button.hit-button");
    if (!hit) return;
    dialog.close();
    jumpTo(Number(hit.dataset.seq));
  });

  function onResults(event) {
    if (event.q !== query) return; // an answer to a search replaced since
    waiting = false;
    more.disabled = false;
    const firstNew = results.children.length;
    results.append(...event.messages.map(result));
    found += event.messages.length;
    // Where the next page starts: a page reads a bounded stretch, so it may find none yet.
    const last = event.messages.length ? event.messages[event.messages.length - 1].seq : oldest;
    oldest = event.next_before_seq ?? last;
    more.hidden = !event.has_more;
    if (found === 0 && event.has_more) {
      status.textContent = `No recent messages contain “${query}”; older ones can be searched.`;
    } else if (found === 0) status.textContent = `No messages contain “${query}”.`;
    else status.textContent = `${found}${event.has_more ? "+" : ""} ${found === 1 ? "message" : "messages"} found, newest first.`;
    const next = results.children[firstNew];
    if (event.before_seq !== null && next) next.querySelector("button").focus();
  }

  function onError(message) {
    waiting = false;
    more.disabled = false;
    status.textContent = message;
  }

  function result(message) {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "hit-button";
    button.dataset.seq = String(message.seq);
    const meta = document.createElement("span");
    meta.className = "hit-meta";
    const author = document.createElement("span");
    author.className = "author";
    author.textContent = message.author;
    const when = new Date(message.ts);
    const time = document.createElement("time");
    time.dateTime = when.toISOString();
    time.textContent = formatTime(when);
    meta.append(author, time);
    const text = document.createElement("span");
    text.className = "hit-text";
    text.append(...marked(message.text, query));
    button.append(meta, text);
    item.append(button);
    return item;
  }

  return { onResults, onError, open };
}

// The text as nodes with every case-insensitive occurrence of `query` in a <mark>; plain
// text when lower-casing changes lengths (then offsets would not line up).
function marked(text, query) {
  const lower = text.toLowerCase();
  const needle = query.toLowerCase();
  if (lower.length !== text.length || !needle) return [document.createTextNode(text)];
  const nodes = [];
  let at = 0;
  for (let found = lower.indexOf(needle); found !== -1; found = lower.indexOf(needle, at)) {
    if (found > at) nodes.push(document.createTextNode(text.slice(at, found)));
    const mark = document.createElement("mark");
    mark.textContent = text.slice(found, found + needle.length);
    nodes.push(mark);
    at = found + needle.length;
  }
  if (at < text.length) nodes.push(document.createTextNode(text.slice(at)));
  return nodes;
}
