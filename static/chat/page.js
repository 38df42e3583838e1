// The room page's fixed facts, read once from the <body>'s data attributes, and the small
// helpers its parts share: the words for errors, avatars, times, the notice above the
// composer. Text is only ever inserted with textContent.

const HUES = 8;

export const $ = (id) => document.getElementById(id);

const body = document.body;
export const room = body.dataset.room;
export const maxName = Number(body.dataset.maxName);
export const maxText = Number(body.dataset.maxText);
// A signed-in user chats under their username; guests pick a name.
export const account = body.dataset.account || "";

export const FRIENDLY = {
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

export function length(text) {
  return [...text].length; // code points, as the server counts
}

export function sentence(text) {
  const trimmed = String(text || "").trim();
  if (!trimmed) return "Something went wrong.";
  const first = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?…]$/.test(first) ? first : `${first}.`;
}

// The words for an error event: ours where we have them, else the server's as a sentence.
export function explain(event) {
  return FRIENDLY[event.code] || sentence(event.message);
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

export function paintAvatar(el, who) {
  el.textContent = initial(who);
  for (let i = 0; i < HUES; i += 1) el.classList.remove(`hue-${i}`);
  el.classList.add(hue(who));
}

export function formatTime(when) {
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

export function newClientId() {
  if (globalThis.crypto && crypto.randomUUID) return crypto.randomUUID();
  return `${Date.now()}-${Math.random().toString(16).slice(2)}`;
}

const notice = $("notice");
const noticeText = $("notice-text");

export function showNotice(text) {
  noticeText.textContent = text;
  notice.hidden = false;
}

export function hideNotice() {
  notice.hidden = true;
  noticeText.textContent = "";
}

// A new element with a class and, optionally, its text (always as textContent).
export function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}
