// tests/cases/timeline.json against static/chat/timeline.js; tests/unit/test_timeline_cases.py
// runs the same cases against tests/timeline.py, the Python clients' copy of these rules.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import test from "node:test";

import { Timeline } from "../../static/chat/timeline.js";

const doc = JSON.parse(readFileSync(new URL("../cases/timeline.json", import.meta.url)));

function seqsOf(step) {
  if (!step.range) return step.seqs;
  const [lo, hi] = step.range;
  return Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
}

function page(step) {
  const messages = seqsOf(step).map((seq) => ({ type: "message", seq, id: `id${seq}` }));
  return { type: "history", messages, has_more: false, before_seq: null, after_seq: null, ...step.fields };
}

function observed(timeline, key) {
  switch (key) {
    case "shown":
      return timeline.known.filter((seq) => timeline.has(seq));
    case "holes":
      return timeline.holeList();
    case "final_holes":
      return timeline.finalHoles();
    case "gaps":
      return timeline.gaps();
    case "highest":
      return timeline.highest;
    case "resume_after":
      return timeline.resumeAfter();
    case "detached":
      return timeline.detached;
    case "missed_live":
      return timeline.missedLive;
    case "lowest_shown":
      return timeline.lowestShown();
    default:
      throw new Error(`unknown state key ${key}`);
  }
}

function expected(value) {
  return value && value.range ? seqsOf(value) : value;
}

function run(timeline, step, at) {
  switch (step.op) {
    case "join":
      timeline.connected(false);
      timeline.receiveHistory(page(step), at);
      return;
    case "connected":
      timeline.connected(step.resumed);
      return;
    case "disconnected":
      timeline.disconnected();
      return;
    case "failed":
      timeline.requestFailed(at);
      return;
    case "live": {
      const result = timeline.receiveLive(step.seq, at);
      for (const [key, value] of Object.entries(step.expect || {})) assert.equal(result[key], value, key);
      return;
    }
    case "history": {
      const result = timeline.receiveHistory(page(step), at);
      const want = step.expect || {};
      if ("kind" in want) assert.equal(result.kind, want.kind);
      if ("answered" in want) assert.equal(result.answered, want.answered);
      if ("cleared" in want) assert.equal(result.cleared, want.cleared);
      if ("fresh" in want) assert.deepEqual(result.fresh.map((f) => [f.message.seq, f.before]), want.fresh);
      if ("fresh_seqs" in want) assert.deepEqual(result.fresh.map((f) => f.message.seq), expected(want.fresh_seqs));
      return;
    }
    case "next": {
      const request = timeline.nextRequest(at);
      const want = step.expect === null ? null : { type: "history", ...step.expect };
      assert.deepEqual(request, want);
      return;
    }
    case "wake":
      assert.equal(timeline.wakeIn(at), step.expect);
      return;
    case "state":
      for (const [key, value] of Object.entries(step.expect)) {
        assert.deepEqual(observed(timeline, key), expected(value), key);
      }
      return;
    default:
      throw new Error(`unknown op ${step.op}`);
  }
}

for (const item of doc.cases) {
  test(item.name, () => {
    const timeline = new Timeline();
    item.steps.forEach((step, index) => {
      try {
        run(timeline, step, doc.t0 + (step.at || 0));
      } catch (error) {
        error.message = `step ${index} ${JSON.stringify(step)}: ${error.message}`;
        throw error;
      }
    });
  });
}
