// One message as a list item (avatar, author, guest tag, text with links, time), grouped with
// its neighbours, a failed send's retry control, and the day separators. Text is only ever
// inserted with textContent; links are DOM nodes whose hrefs are http(s) URLs only.
import { dayKey, dayLabel, linkParts, relativeTime } from "./format.js";
import { element, formatTime, paintAvatar } from "./page.js";

const GROUP_MS = 5 * 60 * 1000; // consecutive messages closer than this share one header

export function stampText(when, now) {
  return relativeTime(when, now) || formatTime(when);
}

// `self`: the name this page chats as, whose messages are its own.
export function fillMessage(item, message, self) {
  const when = new Date(message.ts);
  item.className = "message";
  item.classList.toggle("own", message.author === self);
  item.dataset.seq = message.seq === undefined ? "" : String(message.seq);
  item.dataset.author = message.author;
  item.dataset.ts = String(when.getTime());
  item.replaceChildren();

  const avatar = element("span", "avatar");
  avatar.setAttribute("aria-hidden", "true");
  paintAvatar(avatar, message.author);

  const bubble = element("div", "bubble");
  const meta = element("p", "meta");
  meta.append(element("span", "author", message.author));
  if (!message.account) {
    // Anyone may pick a guest name; only an account's name is vouched for.
    const tag = element("span", "guest-tag", "guest");
    tag.title = "Not signed in";
    meta.append(tag);
  }
  const text = element("p", "text");
  for (const part of linkParts(message.text)) {
    if (!part.href) {
      text.append(document.createTextNode(part.text));
      continue;
    }
    const link = element("a", "", part.text);
    link.href = part.href;
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    text.append(link);
  }
  const time = element("time", "stamp", stampText(when, new Date()));
  time.dateTime = when.toISOString();
  time.title = when.toLocaleString();
  bubble.append(meta, text, time);
  item.append(avatar, bubble);
}

export function nextMessage(item) {
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
export function regroup(item) {
  if (!item) return;
  const prev = previousMessage(item);
  const continued =
    prev !== null &&
    prev.dataset.author === item.dataset.author &&
    Math.abs(Number(item.dataset.ts) - Number(prev.dataset.ts)) < GROUP_MS &&
    new Date(Number(item.dataset.ts)).toDateString() === new Date(Number(prev.dataset.ts)).toDateString();
  item.classList.toggle("continued", continued);
}

export function markFailed(item) {
  if (item.classList.contains("failed")) return;
  item.classList.remove("pending");
  item.classList.add("failed");
  const status = element("p", "delivery");
  const retry = element("button", "ghost small", "Retry");
  retry.type = "button";
  status.append(element("span", "", "Not sent."), retry);
  item.querySelector(".bubble").append(status);
}

// One separator before the first message of each day, in list order. Separators appear
// above what the reader looks at (older pages, the first page), so the distance to the
// bottom is kept, which also keeps a reader at the newest message there.
export function renderDays(list) {
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

// "5 minutes ago" goes stale: the stamps say it again from the current time.
export function refreshStamps(list) {
  const now = new Date();
  for (const stamp of list.querySelectorAll("time.stamp")) {
    stamp.textContent = stampText(new Date(stamp.dateTime), now);
  }
}
