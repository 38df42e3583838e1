// Unit tests of static/chat/format.js: `node --test tests/js/`.
import assert from "node:assert/strict";
import test from "node:test";

import { dayKey, dayLabel, linkParts, relativeTime } from "../../static/chat/format.js";

const links = (text) => linkParts(text).filter((part) => part.href).map((part) => part.href);

test("plain text is one part", () => {
  assert.deepEqual(linkParts("no links here"), [{ text: "no links here" }]);
});

test("http and https URLs become links; the text around them stays text", () => {
  assert.deepEqual(linkParts("see https://example.com/a?b=1 and http://x.org."), [
    { text: "see " },
    { text: "https://example.com/a?b=1", href: "https://example.com/a?b=1" },
    { text: " and " },
    { text: "http://x.org", href: "http://x.org/" },
    { text: "." },
  ]);
});

test("other schemes never become links", () => {
  for (const text of [
    "javascript:alert(1)",
    "data:text/html,<b>x</b>",
    "ftp://example.com/file",
    "JAVASCRIPT://example.com/%0aalert(1)",
    "https://",
  ]) {
    assert.deepEqual(links(text), [], text);
  }
});

test("sentence punctuation and unopened brackets stay out of the link", () => {
  assert.deepEqual(links("(see https://example.com/x)."), ["https://example.com/x"]);
  assert.deepEqual(links("https://en.wikipedia.org/wiki/Foo_(bar)!"), [
    "https://en.wikipedia.org/wiki/Foo_(bar)",
  ]);
  assert.deepEqual(links('"https://example.com/q"'), ["https://example.com/q"]);
});

test("markup characters end a URL and are never part of an href", () => {
  const parts = linkParts('https://example.com/<img src=x onerror="alert(1)">');
  assert.equal(parts[0].href, "https://example.com/");
  assert.equal(parts.map((part) => part.text).join(""), 'https://example.com/<img src=x onerror="alert(1)">');
});

test("the parts always add up to the whole text", () => {
  const text = "a https://x.org/1, b http://y.org/(2)) c javascript:void(0) https://z.org/";
  assert.equal(linkParts(text).map((part) => part.text).join(""), text);
});

test("day labels: today, yesterday, then the date (with the year only when it differs)", () => {
  const now = new Date(2026, 10, 23, 9, 0);
  assert.equal(dayLabel(new Date(2026, 10, 23, 0, 1), now, "en-US"), "Today");
  assert.equal(dayLabel(new Date(2026, 10, 22, 23, 59), now, "en-US"), "Yesterday");
  assert.equal(dayLabel(new Date(2026, 10, 20, 12), now, "en-US"), "Friday, November 20");
  assert.equal(dayLabel(new Date(2025, 0, 2, 12), now, "en-US"), "Thursday, January 2, 2025");
  assert.notEqual(dayKey(new Date(2026, 0, 11)), dayKey(new Date(2026, 10, 1)));
});

test("relative times within the hour, null beyond it", () => {
  const now = new Date(2026, 10, 23, 12, 0, 0);
  const ago = (ms) => new Date(now.getTime() - ms);
  assert.equal(relativeTime(ago(10_000), now, "en-US"), "just now");
  assert.equal(relativeTime(ago(60_000), now, "en-US"), "1 minute ago");
  assert.equal(relativeTime(ago(59 * 60_000), now, "en-US"), "59 minutes ago");
  assert.equal(relativeTime(ago(60 * 60_000), now, "en-US"), null);
  assert.equal(relativeTime(ago(-30_000), now, "en-US"), "just now", "a clock a little ahead");
});
