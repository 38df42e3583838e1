// Pure helpers for showing messages, with no DOM access (tests/js/ runs them under Node):
// where links are in a text, which day a message belongs to, and relative times.

// A candidate link: http(s)://, then anything up to whitespace or a character that
// cannot end a URL in running text. Anything else (javascript:, data:, ...) stays text.
const URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/gi;
const TRAILING = /[.,;:!?'"*_~]+$/;
const MINUTE = 60 * 1000;
const HOUR = 60 * MINUTE;

// Drop punctuation that ends the sentence rather than the URL; a closing bracket stays
// only when the URL opened it (https://en.wikipedia.org/wiki/Foo_(bar)).
function trimUrl(candidate) {
  let url = candidate.replace(TRAILING, "");
  for (const [open, close] of [["(", ")"], ["[", "]"], ["{", "}"]]) {
    while (url.endsWith(close) && url.split(close).length > url.split(open).length) {
      url = url.slice(0, -1).replace(TRAILING, "");
    }
  }
  return url;
}

// The text split into { text } and { text, href } parts, in order; an href is only ever an
// absolute http: or https: URL, as the URL parser normalised it.
function linkParts(text) {
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(URL_RE)) {
    const candidate = trimUrl(match[0]);
    let href = null;
    try {
      const url = new URL(candidate);
      if ((url.protocol === "http:" || url.protocol === "https:") && url.hostname) href = url.href;
    } catch (err) {
      href = null;
    }
    if (href === null) continue;
    if (match.index > last) parts.push({ text: text.slice(last, match.index) });
    parts.push({ text: candidate, href });
    last = match.index + candidate.length;
  }
  if (last < text.length) parts.push({ text: text.slice(last) });
  return parts;
}

// The local calendar day of a moment, as a comparable key.
function dayKey(when) {
  return `${when.getFullYear()}-${when.getMonth() + 1}-${when.getDate()}`;
}

// "Today", "Yesterday", or the date (with the year when it is not this year's).
function dayLabel(when, now, locale) {
  if (dayKey(when) === dayKey(now)) return "Today";
  const yesterday = new Date(now.getFullYear(), now.getMonth(), now.getDate() - 1);
  if (dayKey(when) === dayKey(yesterday)) return "Yesterday";
  return when.toLocaleDateString(locale, {
    weekday: "long",
    month: "long",
    day: "numeric",
    year: when.getFullYear() === now.getFullYear() ? undefined : "numeric",
  });
}

// "just now" / "5 minutes ago" within the last hour; null when the clock time says more.
function relativeTime(when, now, locale) {
  const age = now.getTime() - when.getTime();
  if (age < -MINUTE || age >= HOUR) return null;
  if (age < MINUTE) return "just now";
  const format = new Intl.RelativeTimeFormat(locale, { numeric: "auto" });
  return format.format(-Math.floor(age / MINUTE), "minute");
}

export { linkParts, dayKey, dayLabel, relativeTime };
