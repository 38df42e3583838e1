// Unit tests of static/chat/timeline.js: `node --test tests/js/` (run by `make test` through
// tests/unit/test_timeline_js.py).
import assert from "node:assert/strict";
import test from "node:test";

import { HOLE_RECHECK_MS, Outbox, Timeline, historyKind } from "../../static/chat/timeline.js";

const T0 = 1_000_000;

function msg(seq) {
  return { type: "message", seq, id: `id${seq}`, author: "a", text: `m${seq}`, ts: "2026-01-01T00:00:00Z" };
}

function page(seqs, fields) {
  return { type: "history", messages: seqs.map(msg), has_more: false, before_seq: null, after_seq: null, ...fields };
}

function range(lo, hi) {
  return Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
}

// A timeline that has shown the newest page `seqs` on its first connect.
function joined(seqs, fields) {
  const timeline = new Timeline();
  timeline.connected(false);
  timeline.receiveHistory(page(seqs, fields), T0);
  return timeline;
}

function shownInOrder(timeline) {
  return timeline.known.filter((seq) => timeline.has(seq));
}

test("messages arriving in order are appended after the newest", () => {
  const timeline = joined([1, 2, 3]);
  assert.deepEqual(timeline.receiveLive(4, T0), { added: true, before: null });
  assert.deepEqual(timeline.receiveLive(5, T0), { added: true, before: null });
  assert.deepEqual(shownInOrder(timeline), [1, 2, 3, 4, 5]);
  assert.equal(timeline.highest, 5);
  assert.deepEqual(timeline.gaps(), []);
  assert.equal(timeline.nextRequest(T0 + 60_000), null);
});

test("a message arriving out of order is inserted before the next higher seq", () => {
  const timeline = joined([1, 2]);
  assert.deepEqual(timeline.receiveLive(5, T0), { added: true, before: null });
  assert.deepEqual(timeline.receiveLive(4, T0), { added: true, before: 5 });
  assert.deepEqual(timeline.receiveLive(3, T0), { added: true, before: 4 });
  assert.deepEqual(shownInOrder(timeline), [1, 2, 3, 4, 5]);
  assert.deepEqual(timeline.gaps(), []);
});

test("a message older than everything shown goes first", () => {
  const timeline = joined([10, 11]);
  assert.deepEqual(timeline.receiveLive(7, T0), { added: true, before: 10 });
  assert.deepEqual(timeline.gaps(), [], "below the floor older pages are loaded on scroll");
});

test("duplicates are dropped: live twice, and history overlapping live", () => {
  const timeline = joined([1, 2, 3]);
  assert.equal(timeline.receiveLive(3, T0).added, false);
  assert.equal(timeline.receiveLive(4, T0).added, true);
  assert.equal(timeline.receiveLive(4, T0).added, false);
  // A catch-up page that repeats what came live: only the new ones are fresh.
  timeline.connected(true);
  const result = timeline.receiveHistory(page([3, 4, 5, 6], { after_seq: 2 }), T0);
  assert.equal(result.kind, "after");
  assert.deepEqual(
    result.fresh.map((entry) => [entry.message.seq, entry.before]),
    [
      [5, null],
      [6, null],
    ],
  );
  assert.deepEqual(shownInOrder(timeline), [1, 2, 3, 4, 5, 6]);
});

test("a fresh history message for a missing middle seq is placed before the next shown", () => {
  const timeline = joined([1, 2, 5, 6]);
  const result = timeline.receiveHistory(page([3, 4, 5], { after_seq: 2, has_more: true }), T0);
  assert.deepEqual(
    result.fresh.map((entry) => [entry.message.seq, entry.before]),
    [
      [3, 5],
      [4, 5],
    ],
  );
});

test("a gap on the live stream is asked for with after_seq once the overtaking wait is over", () => {
  const timeline = joined([1, 2, 3]);
  timeline.receiveLive(7, T0);
  assert.deepEqual(timeline.gaps(), [[3, 7]]);
  assert.equal(timeline.nextRequest(T0 + 500), null, "a broadcast from another worker may be late");
  assert.equal(timeline.wakeIn(T0 + 500), 500);
  assert.deepEqual(timeline.nextRequest(T0 + 1000), { type: "history", after_seq: 3, limit: 3 });
  assert.equal(timeline.nextRequest(T0 + 1000), null, "one request at a time");
  assert.equal(timeline.wakeIn(T0 + 1000), null);
  const answer = timeline.receiveHistory(page([4, 5, 6, 7], { after_seq: 3, has_more: true }), T0 + 1100);
  assert.equal(answer.answered, true);
  assert.deepEqual(answer.fresh.map((entry) => entry.message.seq), [4, 5, 6]);
  assert.deepEqual(timeline.gaps(), []);
  assert.deepEqual(timeline.holeList(), []);
  assert.equal(timeline.nextRequest(T0 + 60_000), null);
});

test("a late broadcast inside the wait fills the gap without a request", () => {
  const timeline = joined([1, 2]);
  timeline.receiveLive(4, T0);
  timeline.receiveLive(3, T0 + 200);
  assert.deepEqual(timeline.gaps(), []);
  assert.equal(timeline.nextRequest(T0 + 5000), null);
});

test("a gap found by a history page is asked for at once, a large one page by page", () => {
  const timeline = joined(range(1, 10));
  // A server without resume answers a reconnect with its newest page.
  timeline.connected(false);
  timeline.receiveHistory(page(range(451, 500), { has_more: true }), T0);
  assert.deepEqual(timeline.gaps(), [[10, 451]]);
  assert.deepEqual(timeline.nextRequest(T0), { type: "history", after_seq: 10, limit: 200 });
  timeline.receiveHistory(page(range(11, 210), { after_seq: 10, has_more: true }), T0);
  assert.deepEqual(timeline.nextRequest(T0), { type: "history", after_seq: 210, limit: 200 });
  timeline.receiveHistory(page(range(211, 410), { after_seq: 210, has_more: true }), T0);
  assert.deepEqual(timeline.nextRequest(T0), { type: "history", after_seq: 410, limit: 40 });
  timeline.receiveHistory(page(range(411, 450), { after_seq: 410, has_more: true }), T0);
  assert.equal(timeline.nextRequest(T0), null);
  assert.deepEqual(shownInOrder(timeline), range(1, 500));
});

test("numbers a gap answer skips are settled as holes, and not asked for as a gap again", () => {
  const timeline = joined([1, 2, 3]);
  timeline.receiveLive(8, T0);
  assert.deepEqual(timeline.nextRequest(T0 + 1000), { type: "history", after_seq: 3, limit: 4 });
  // 5 and 7 were taken by failed sends: the answer skips them and runs past the gap.
  timeline.receiveHistory(page([4, 6, 8, 9], { after_seq: 3, has_more: true }), T0 + 1000);
  assert.deepEqual(timeline.holeList(), [5, 7]);
  assert.deepEqual(timeline.gaps(), []);
  assert.deepEqual(shownInOrder(timeline), [1, 2, 3, 4, 6, 8, 9]);
  assert.equal(timeline.nextRequest(T0 + 2000), null);
});

test("an answer without more settles everything up to the newest shown", () => {
  const timeline = joined([1, 2, 3]);
  timeline.receiveLive(6, T0);
  assert.deepEqual(timeline.nextRequest(T0 + 1000), { type: "history", after_seq: 3, limit: 2 });
  timeline.receiveHistory(page([], { after_seq: 3, has_more: false }), T0 + 1000);
  assert.deepEqual(timeline.holeList(), [4, 5]);
  assert.deepEqual(timeline.gaps(), []);
});

test("holes are asked for once more after a few seconds, then final", () => {
  const timeline = joined([1, 2, 3]);
  timeline.receiveLive(9, T0);
  timeline.nextRequest(T0 + 1000);
  timeline.receiveHistory(page([4, 6, 9], { after_seq: 3, has_more: false }), T0 + 1000);
  assert.deepEqual(timeline.holeList(), [5, 7, 8]);
  assert.deepEqual(timeline.finalHoles(), []);
  assert.equal(timeline.nextRequest(T0 + 1000 + HOLE_RECHECK_MS - 1), null);
  assert.equal(timeline.wakeIn(T0 + 1000), HOLE_RECHECK_MS);
  const recheck = timeline.nextRequest(T0 + 1000 + HOLE_RECHECK_MS);
  assert.deepEqual(recheck, { type: "history", after_seq: 4, limit: 4 });
  // The slow write of 7 landed meanwhile; 5 and 8 never will.
  const answer = timeline.receiveHistory(
    page([6, 7, 9], { after_seq: 4, has_more: false }),
    T0 + 1000 + HOLE_RECHECK_MS,
  );
  assert.equal(answer.answered, true);
  assert.deepEqual(answer.fresh.map((entry) => [entry.message.seq, entry.before]), [[7, 9]]);
  assert.deepEqual(timeline.holeList(), [5, 8]);
  assert.deepEqual(timeline.finalHoles(), [5, 8]);
  assert.equal(timeline.nextRequest(T0 + 60_000), null);
  assert.equal(timeline.wakeIn(T0 + 60_000), null);
});

test("a message for a hole seq arriving later live is inserted in order, exactly once", () => {
  const timeline = joined([1, 2, 3]);
  timeline.receiveLive(6, T0);
  timeline.nextRequest(T0 + 1000);
  timeline.receiveHistory(page([5, 6], { after_seq: 3, has_more: false }), T0 + 1000);
  assert.deepEqual(timeline.holeList(), [4]);
  assert.deepEqual(timeline.receiveLive(4, T0 + 3000), { added: true, before: 5 });
  assert.equal(timeline.receiveLive(4, T0 + 3001).added, false);
  assert.deepEqual(timeline.holeList(), []);
  assert.deepEqual(shownInOrder(timeline), [1, 2, 3, 4, 5, 6]);
  assert.equal(timeline.highest, 6, "a late low seq does not move the newest");
  // Even after the hole was final.
  const other = joined([1, 2, 3]);
  other.receiveLive(5, T0);
  other.nextRequest(T0 + 1000);
  other.receiveHistory(page([5], { after_seq: 3 }), T0 + 1000);
  other.nextRequest(T0 + 1000 + HOLE_RECHECK_MS);
  other.receiveHistory(page([5], { after_seq: 3 }), T0 + 1000 + HOLE_RECHECK_MS);
  assert.deepEqual(other.finalHoles(), [4]);
  assert.deepEqual(other.receiveLive(4, T0 + 20_000), { added: true, before: 5 });
});

test("holes inside the newest page are rechecked; holes in older pages are final", () => {
  const timeline = joined([50, 52, 53], { has_more: true });
  assert.deepEqual(timeline.holeList(), [51]);
  assert.deepEqual(timeline.finalHoles(), []);
  const older = timeline.receiveHistory(page([46, 48, 49], { before_seq: 50, has_more: true }), T0);
  assert.equal(older.kind, "older");
  assert.deepEqual(older.fresh.map((entry) => [entry.message.seq, entry.before]), [
    [46, 50],
    [48, 50],
    [49, 50],
  ]);
  assert.deepEqual(timeline.holeList(), [47, 51]);
  assert.deepEqual(timeline.finalHoles(), [47]);
  assert.equal(timeline.lowestShown(), 46);
  assert.deepEqual(timeline.nextRequest(T0 + HOLE_RECHECK_MS), { type: "history", after_seq: 50, limit: 1 });
});

test("the resume cursor is the highest seq shown, and absent before any history", () => {
  const fresh = new Timeline();
  assert.equal(fresh.resumeAfter(), null);
  fresh.connected(false);
  fresh.receiveHistory(page([]), T0);
  assert.equal(fresh.resumeAfter(), 0, "an empty room resumes from its start");

  const timeline = joined([1, 2, 3]);
  timeline.receiveLive(5, T0);
  timeline.receiveLive(4, T0);
  timeline.receiveLive(2, T0);
  assert.equal(timeline.resumeAfter(), 5);
  timeline.receiveHistory(page([], { before_seq: 1 }), T0);
  assert.equal(timeline.resumeAfter(), 5, "older pages do not move it");
});

test("a catch-up after resume holds gap requests until its last page", () => {
  const timeline = joined([1, 2, 3]);
  timeline.receiveLive(6, T0); // gap 4..5 seen just before the socket dropped
  timeline.disconnected();
  timeline.connected(true);
  assert.equal(timeline.nextRequest(T0 + 5000), null, "the catch-up comes first");
  timeline.receiveHistory(page(range(7, 206), { after_seq: 6, has_more: true }), T0 + 5000);
  assert.equal(timeline.nextRequest(T0 + 5000), null);
  timeline.receiveHistory(page([207, 209], { after_seq: 206, has_more: false }), T0 + 5000);
  assert.deepEqual(timeline.holeList(), [208]);
  assert.equal(timeline.resumeAfter(), 209);
  // The gap from before the drop is still owed.
  assert.deepEqual(timeline.nextRequest(T0 + 5000), { type: "history", after_seq: 3, limit: 2 });
});

test("a lost connection forgets the request in flight; a refused one pauses asking", () => {
  const timeline = joined([1, 2, 3]);
  timeline.receiveLive(6, T0);
  assert.ok(timeline.nextRequest(T0 + 1000));
  timeline.disconnected();
  timeline.connected(false);
  timeline.receiveHistory(page([4, 5, 6]), T0 + 2000);
  assert.equal(timeline.nextRequest(T0 + 2000), null, "the newest page filled it");

  timeline.receiveLive(9, T0 + 3000);
  assert.deepEqual(timeline.nextRequest(T0 + 4000), { type: "history", after_seq: 6, limit: 2 });
  timeline.requestFailed(T0 + 4000);
  assert.equal(timeline.nextRequest(T0 + 4000), null);
  assert.equal(timeline.wakeIn(T0 + 4000), 5000);
  assert.deepEqual(timeline.nextRequest(T0 + 9000), { type: "history", after_seq: 6, limit: 2 });
});

test("an unrelated after_seq page does not count as the answer in flight", () => {
  const timeline = joined([1, 2, 3]);
  timeline.receiveLive(6, T0);
  timeline.nextRequest(T0 + 1000);
  const other = timeline.receiveHistory(page([2, 3], { after_seq: 1, has_more: true }), T0 + 1000);
  assert.equal(other.answered, false);
  assert.equal(timeline.nextRequest(T0 + 1000), null, "still waiting for after_seq 3");
});

test("history events are classified by the cursor they echo", () => {
  assert.equal(historyKind({ after_seq: 0, before_seq: null }), "after");
  assert.equal(historyKind({ after_seq: null, before_seq: 71 }), "older");
  assert.equal(historyKind({ after_seq: null, before_seq: null }), "newest");
  assert.equal(historyKind({ messages: [] }), null);
});

test("the outbox keeps sends pending until acked, resends them, and fails and retries by client_id", () => {
  const outbox = new Outbox();
  outbox.add("a", "first");
  outbox.add("b", "second");
  outbox.add("c", "third");
  assert.equal(outbox.size, 3);
  assert.equal(outbox.first().clientId, "a");

  assert.equal(outbox.acknowledge("a").text, "first");
  assert.equal(outbox.acknowledge("a"), null, "a second ack (after a resend) is ignored");
  assert.equal(outbox.fail("b").state, "failed");
  assert.equal(outbox.fail("zzz"), null);
  assert.deepEqual(
    outbox.toResend().map((entry) => entry.clientId),
    ["c"],
    "failed messages wait for the user's retry",
  );
  assert.equal(outbox.retry("b").state, "sending");
  assert.deepEqual(
    outbox.toResend().map((entry) => [entry.clientId, entry.text]),
    [
      ["b", "second"],
      ["c", "third"],
    ],
    "same client_id, in the order first sent",
  );
  outbox.acknowledge("b");
  outbox.acknowledge("c");
  assert.equal(outbox.size, 0);
  assert.equal(outbox.first(), null);
});

test("historyKind tells an around page by its echoed around_seq", () => {
  assert.equal(historyKind(page([5], { around_seq: 5 })), "around");
  assert.equal(historyKind(page([5], { around_seq: null, after_seq: 4 })), "after");
});

test("an around window replaces everything shown and detaches from the live end", () => {
  const timeline = joined(range(951, 1000), { has_more: true });
  const result = timeline.receiveHistory(
    page(range(476, 525), { around_seq: 500, has_more: true, has_newer: true }),
    T0,
  );
  assert.equal(result.cleared, true);
  assert.deepEqual(result.fresh.map((f) => f.message.seq), range(476, 525));
  assert.deepEqual(shownInOrder(timeline), range(476, 525));
  assert.equal(timeline.detached, true);
  assert.deepEqual(timeline.gaps(), []);
  assert.equal(timeline.nextRequest(T0 + 60_000), null, "the newer messages are not gap-filled");
  assert.equal(timeline.resumeAfter(), null, "a reconnect brings the newest page back");
});

test("live messages while detached are counted, not shown", () => {
  const timeline = joined(range(1, 100));
  timeline.receiveHistory(page(range(10, 20), { around_seq: 15, has_newer: true }), T0);
  assert.deepEqual(timeline.receiveLive(101, T0), { added: false, before: null, detached: true });
  assert.equal(timeline.missedLive, 1);
  assert.equal(timeline.has(101), false);
});

test("paging forward to the newest attaches the window to the live end again", () => {
  const timeline = joined(range(1, 100));
  timeline.receiveHistory(page(range(40, 60), { around_seq: 50, has_newer: true }), T0);
  timeline.receiveHistory(page(range(61, 80), { after_seq: 60, has_more: true }), T0);
  assert.equal(timeline.detached, true);
  timeline.receiveHistory(page(range(81, 101), { after_seq: 80, has_more: false }), T0);
  assert.equal(timeline.detached, false);
  assert.deepEqual(shownInOrder(timeline), range(40, 101));
  assert.deepEqual(timeline.receiveLive(102, T0), { added: true, before: null });
  assert.equal(timeline.resumeAfter(), 102);
});

test("the newest page ends a detached window and replaces it", () => {
  const timeline = joined(range(1, 100));
  timeline.receiveHistory(page(range(10, 20), { around_seq: 15, has_newer: true }), T0);
  const result = timeline.receiveHistory(page(range(61, 110), { has_more: true }), T0);
  assert.equal(result.cleared, true);
  assert.equal(timeline.detached, false);
  assert.deepEqual(shownInOrder(timeline), range(61, 110));
  assert.equal(timeline.lowestShown(), 61);
});

test("an around window of the newest messages is not detached", () => {
  const timeline = joined(range(1, 30));
  const result = timeline.receiveHistory(page(range(5, 30), { around_seq: 28, has_newer: false }), T0);
  assert.equal(result.cleared, true);
  assert.equal(timeline.detached, false);
  assert.deepEqual(timeline.receiveLive(31, T0), { added: true, before: null });
});
