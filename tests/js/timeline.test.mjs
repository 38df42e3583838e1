// Unit tests of static/chat/timeline.js: `node --test tests/js/` (run by `make test` through
// tests/unit/test_timeline_js.py). The Timeline's delivery rules are cases in
// tests/cases/timeline.json (timeline_cases.test.mjs), shared with the Python clients.
import assert from "node:assert/strict";
import test from "node:test";

import { Outbox, historyKind } from "../../static/chat/timeline.js";

function page(seqs, fields) {
  const messages = seqs.map((seq) => ({ type: "message", seq, id: `id${seq}` }));
  return { type: "history", messages, has_more: false, before_seq: null, after_seq: null, ...fields };
}

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
