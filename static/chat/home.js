// The start page: the active rooms with who is in them, refreshed while the page is visible,
// and the "join or create" form, checked here as the server checks room names. Text is only
// ever inserted with textContent.
import { relativeTime } from "./format.js";

const REFRESH_MS = 5000;
const ROOM_RE = /^[a-z0-9][a-z0-9_-]{0,63}$/;

const form = document.getElementById("join-room");
const input = document.getElementById("room-input");
const list = document.getElementById("room-list");
const status = document.getElementById("rooms-status");
let timer = null;

function roomProblem(value) {
  if (!value) return "Type a room name.";
  if (!ROOM_RE.test(value)) {
    return "Room names are 1-64 letters, digits, '-' or '_', starting with a letter or digit.";
  }
  return null;
}

// Checked here so the reader gets the answer at once; the server checks the same anyway.
form.addEventListener("submit", (event) => {
  const value = input.value.trim().toLowerCase();
  const problem = roomProblem(value);
  event.preventDefault();
  let error = document.getElementById("room-error");
  if (!problem) {
    location.assign(`/r/${encodeURIComponent(value)}/`);
    return;
  }
  if (!error) {
    error = document.createElement("p");
    error.id = "room-error";
    error.className = "field-error";
    error.setAttribute("role", "alert");
    form.querySelector(".join-row").after(error);
    input.setAttribute("aria-describedby", "room-help room-error");
  }
  error.textContent = problem;
  input.setAttribute("aria-invalid", "true");
  input.focus();
});

function lastActive(iso) {
  const when = new Date(iso);
  const now = new Date();
  const relative = relativeTime(when, now);
  if (relative) return relative;
  const time = when.toLocaleTimeString([], { hour: "numeric", minute: "2-digit" });
  if (when.toDateString() === now.toDateString()) return `at ${time}`;
  return `on ${when.toLocaleDateString([], { month: "short", day: "numeric" })}, ${time}`;
}

function plural(count, one, many) {
  return `${count} ${count === 1 ? one : many}`;
}

function roomItem(room) {
  const item = document.createElement("li");
  const link = document.createElement("a");
  link.className = "room-link";
  link.href = `/r/${encodeURIComponent(room.room)}/`;
  link.dataset.room = room.room;
  const title = document.createElement("span");
  title.className = "room-title";
  const hash = document.createElement("span");
  hash.className = "hash";
  hash.setAttribute("aria-hidden", "true");
  hash.textContent = "#";
  title.append(hash, document.createTextNode(room.room));
  const figures = document.createElement("span");
  figures.className = "room-figures";
  const online = document.createElement("span");
  online.className = room.members ? "online" : "";
  online.textContent = `${room.members} online`;
  const messages = document.createElement("span");
  messages.textContent = plural(room.messages, "message", "messages");
  const last = document.createElement("span");
  last.className = "last";
  last.textContent = room.last_ts ? `active ${lastActive(room.last_ts)}` : "no messages yet";
  figures.append(online, messages, last);
  link.append(title, figures);
  item.append(link);
  return item;
}

async function refresh() {
  clearTimeout(timer);
  try {
    const response = await fetch("/api/rooms?order=recent&limit=50", { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const rooms = await response.json();
    // Where people are first, then the latest activity (as the server ordered them).
    rooms.sort((a, b) => Number(b.members > 0) - Number(a.members > 0));
    list.replaceChildren(...rooms.map(roomItem));
    status.textContent = rooms.length ? "" : "No rooms yet: name one above to start it.";
    status.hidden = rooms.length > 0;
  } catch (err) {
    status.hidden = false;
    status.textContent = "The room list could not be loaded; trying again shortly.";
  }
  if (!document.hidden) timer = setTimeout(refresh, REFRESH_MS);
}

document.addEventListener("visibilitychange", () => {
  if (!document.hidden) refresh();
});

refresh();
