// The page's bookkeeping for reliable delivery, with no DOM access: which seqs are shown and
// where a new one goes, which are missing and must be fetched, which are holes (a seq that was
// never stored), where to resume after a reconnect, and the outbox of sends awaiting their ack.
// connection.js and timelineview.js ask it what to do and touch the DOM; tests/js/ runs it
// under Node.

const GAP_WAIT_MS = 1000; // broadcasts from two workers may overtake each other briefly
const HOLE_RECHECK_MS = 6000; // the server gives up storing after 5 s: ask once more after that
const ERROR_PAUSE_MS = 5000; // a refused gap request is not repeated at once
const MAX_PAGE = 200;

// Index of the first element of the sorted array `values` that is >= `value`.
function lowerBound(values, value) {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (values[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function isSeq(value) {
  return Number.isInteger(value) && value > 0;
}

// Which kind of page a `history` event is, from the cursor it echoes; null when it echoes
// none (a server that predates cursor echo), so the caller decides from what it asked.
function historyKind(event) {
  if (event.around_seq !== undefined && event.around_seq !== null) return "around";
  if (event.after_seq !== undefined && event.after_seq !== null) return "after";
  if (event.before_seq !== undefined && event.before_seq !== null) return "older";
  if ("after_seq" in event || "before_seq" in event) return "newest";
  return null;
}

class Timeline {
  constructor(options = {}) {
    this.gapWaitMs = options.gapWaitMs ?? GAP_WAIT_MS;
    this.holeRecheckMs = options.holeRecheckMs ?? HOLE_RECHECK_MS;
    this.errorPauseMs = options.errorPauseMs ?? ERROR_PAUSE_MS;
    this.maxPage = options.maxPage ?? MAX_PAGE;
    this.clear();
    this.pausedUntil = 0;
  }

  // Forget every message: the page shows another window of the room from now on.
  clear() {
    this.shown = new Set();
    this.holes = new Map(); // seq -> { final, recheckAt }: settled as never stored
    this.known = []; // sorted: every seq shown or settled as a hole
    // From here up to `highest` the page holds every message or knows it is a hole; below
    // it lie older pages, loaded on scroll.
    this.floor = null;
    this.highest = 0;
    this.loaded = false; // a newest or catch-up page has been applied
    this.waits = []; // { lo, hi, until }: a gap seen live is not asked for before `until`
    this.inFlight = null; // the gap or recheck request awaiting its answer
    this.resuming = false; // the catch-up after a resume has not ended yet
    // Showing a window of older messages (a search result in context), not the newest:
    // live messages are not shown, only counted in `missedLive`, until the reader pages
    // forward to the newest or jumps back to it.
    this.detached = false;
    this.missedLive = 0;
  }

  get size() {
    return this.shown.size;
  }

  has(seq) {
    return this.shown.has(seq);
  }

  isHole(seq) {
    return this.holes.has(seq);
  }

  // The cursor for `?after_seq=` on reconnect; null until a page of history was shown, and
  // while detached (the newest page then brings the reader back to the present).
  resumeAfter() {
    return this.loaded && !this.detached ? this.highest : null;
  }

  lowestShown() {
    for (const seq of this.known) if (this.shown.has(seq)) return seq;
    return null;
  }

  // The shown seq a newly shown `seq` goes before, or null when it is the newest.
  nextShownAfter(seq) {
    for (let i = lowerBound(this.known, seq + 1); i < this.known.length; i += 1) {
      if (this.shown.has(this.known[i])) return this.known[i];
    }
    return null;
  }

  // Missing ranges as [lo, hi]: every seq strictly between is neither shown nor a hole.
  gaps() {
    const found = [];
    if (this.floor === null) return found;
    for (let i = lowerBound(this.known, this.floor) + 1; i < this.known.length; i += 1) {
      const lo = this.known[i - 1];
      const hi = this.known[i];
      if (hi - lo > 1) found.push([lo, hi]);
    }
    return found;
  }

  holeList() {
    return [...this.holes.keys()].sort((a, b) => a - b);
  }

  finalHoles() {
    return this.holeList().filter((seq) => this.holes.get(seq).final);
  }

  // A connection opened; `resumed` when it asked for `?after_seq=`.
  connected(resumed) {
    this.inFlight = null;
    this.resuming = Boolean(resumed);
    this.pausedUntil = 0;
  }

  // The socket closed: whatever was asked is not coming.
  disconnected() {
    this.inFlight = null;
    this.resuming = false;
  }

  // A broadcast, or the ack of our own message. Returns { added, before }: `added` false for
  // a duplicate; `before` is the shown seq to insert in front of (null: after the newest).
  receiveLive(seq, now) {
    if (!isSeq(seq)) return { added: false, before: null };
    if (this.detached) {
      if (seq > this.highest) this.missedLive += 1;
      return { added: false, before: null, detached: true };
    }
    const newestBefore = this.highest;
    const result = this.show(seq);
    if (result.added && newestBefore > 0 && seq > newestBefore + 1) {
      this.waits.push({ lo: newestBefore, hi: seq, until: now + this.gapWaitMs });
    }
    return result;
  }

  // A `history` event. Returns { kind, answered, fresh, cleared }: `fresh` lists the messages
  // not shown before, ascending, each with the seq to insert it before (insert them in that
  // order); `answered` when it answers this timeline's own gap or recheck request; `cleared`
  // when every message shown before must go (an `around` window, or the newest page that
  // ends a detached window).
  receiveHistory(event, now, kind) {
    const how = kind || historyKind(event) || "newest";
    const cleared = how === "around" || (how === "newest" && this.detached);
    if (cleared) this.clear();
    const messages = (event.messages || [])
      .filter((message) => isSeq(message.seq))
      .sort((a, b) => a.seq - b.seq);
    const fresh = [];
    for (const message of messages) {
      const result = this.show(message.seq);
      if (result.added) fresh.push({ message, before: result.before });
    }
    const first = messages.length ? messages[0].seq : null;
    const last = messages.length ? messages[messages.length - 1].seq : null;
    let answered = false;
    // The seqs this answer speaks for: whatever in there it does not hold was not stored.
    let lo = null;
    let hi = null;
    if (how === "older") {
      if (first !== null) {
        lo = first;
        hi = isSeq(event.before_seq) ? event.before_seq - 1 : last;
        this.lowerFloor(first);
      }
    } else if (how === "around") {
      if (first !== null) {
        lo = first;
        hi = last;
        this.lowerFloor(first);
      }
      this.detached = Boolean(event.has_newer);
      this.loaded = true;
    } else if (how === "after") {
      const cursor = Number(event.after_seq) || 0;
      if (!event.has_more || last !== null) {
        lo = cursor + 1;
        hi = event.has_more ? last : Infinity;
      }
      if (first !== null) this.lowerFloor(first);
      if (this.inFlight && this.inFlight.after_seq === cursor) {
        this.inFlight = null;
        answered = true;
      }
      if (this.resuming && !event.has_more) this.resuming = false;
      if (this.detached && !event.has_more) {
        this.detached = false; // paged forward up to the newest: live messages show again
        this.missedLive = 0;
      }
      this.loaded = true;
    } else {
      if (first !== null) {
        lo = first;
        hi = Infinity;
        this.lowerFloor(first);
      }
      this.resuming = false;
      this.loaded = true;
    }
    if (lo !== null && hi !== null) this.settle(lo, Math.min(hi, this.highest), how, now);
    return { kind: how, answered, fresh, cleared };
  }

  // The next gap fill or hole recheck to send, marked as in flight; null when none is due.
  nextRequest(now) {
    if (this.inFlight || this.resuming || now < this.pausedUntil) return null;
    this.waits = this.waits.filter((wait) => wait.until > now);
    for (const [lo, hi] of this.gaps()) {
      if (this.waits.some((wait) => wait.lo < hi && wait.hi > lo)) continue;
      return this.ask(lo, Math.min(this.maxPage, hi - lo - 1), "gap");
    }
    const due = this.holeList().filter((seq) => {
      const hole = this.holes.get(seq);
      return !hole.final && hole.recheckAt <= now;
    });
    if (due.length) {
      const cursor = due[0] - 1;
      const upTo = due.filter((seq) => seq - cursor <= this.maxPage).pop();
      return this.ask(cursor, upTo - cursor, "recheck");
    }
    return null;
  }

  // Milliseconds until nextRequest may have something to send; null while nothing is
  // waiting or an answer is awaited (its arrival is the next occasion).
  wakeIn(now) {
    if (this.inFlight || this.resuming) return null;
    const times = [];
    if (this.gaps().length) {
      times.push(...this.waits.map((wait) => wait.until));
      if (this.pausedUntil > now) times.push(this.pausedUntil);
    }
    for (const hole of this.holes.values()) if (!hole.final) times.push(hole.recheckAt);
    if (!times.length) return null;
    return Math.max(0, Math.min(...times) - now);
  }

  // The server refused our gap or recheck request: wait a little before asking again.
  requestFailed(now) {
    this.inFlight = null;
    this.pausedUntil = now + this.errorPauseMs;
  }

  // ---- internals ----

  ask(afterSeq, limit, reason) {
    this.inFlight = { after_seq: afterSeq, limit, reason };
    return { type: "history", after_seq: afterSeq, limit };
  }

  show(seq) {
    if (this.shown.has(seq)) return { added: false, before: null };
    if (this.holes.has(seq)) this.holes.delete(seq); // a slow write after all: shown in order
    else this.insertKnown(seq);
    this.shown.add(seq);
    this.highest = Math.max(this.highest, seq);
    if (this.floor === null) this.floor = seq;
    return { added: true, before: this.nextShownAfter(seq) };
  }

  insertKnown(seq) {
    const at = lowerBound(this.known, seq);
    if (this.known[at] !== seq) this.known.splice(at, 0, seq);
  }

  lowerFloor(seq) {
    if (this.floor === null || seq < this.floor) this.floor = seq;
  }

  // Every seq in [lo, hi] neither shown nor a hole becomes a hole; provisional holes whose
  // recheck time has come are final once an answer covers them again.
  settle(lo, hi, how, now) {
    if (!(hi >= lo)) return;
    const found = [];
    let next = lo;
    for (let i = lowerBound(this.known, lo); next <= hi; i += 1) {
      const stop = i < this.known.length ? Math.min(this.known[i], hi + 1) : hi + 1;
      for (; next < stop; next += 1) found.push(next);
      next = stop + 1;
    }
    const final = how === "older"; // old pages: a failed send there is long settled
    for (const seq of found) {
      this.holes.set(seq, { final, recheckAt: now + this.holeRecheckMs });
      this.insertKnown(seq);
    }
    for (let i = lowerBound(this.known, lo); i < this.known.length && this.known[i] <= hi; i += 1) {
      const hole = this.holes.get(this.known[i]);
      if (hole && !hole.final && hole.recheckAt <= now) hole.final = true;
    }
  }
}

// Messages sent and not yet acknowledged, in the order they were sent.
class Outbox {
  constructor() {
    this.entries = new Map(); // client_id -> { clientId, text, state: "sending" | "failed" }
  }

  get size() {
    return this.entries.size;
  }

  add(clientId, text) {
    const entry = { clientId, text, state: "sending" };
    this.entries.set(clientId, entry);
    return entry;
  }

  get(clientId) {
    return this.entries.get(clientId) || null;
  }

  first() {
    const next = this.entries.values().next();
    return next.done ? null : next.value;
  }

  values() {
    return [...this.entries.values()];
  }

  // The ack came: the message is stored. Returns the entry, or null when not ours (any more).
  acknowledge(clientId) {
    const entry = this.get(clientId);
    if (entry) this.entries.delete(clientId);
    return entry;
  }

  // `not_stored` (or another refusal) for this client_id: shown with a retry control.
  fail(clientId) {
    const entry = this.get(clientId);
    if (entry) entry.state = "failed";
    return entry;
  }

  // The user retries: sent again under the same client_id, so a late write is recognised.
  retry(clientId) {
    const entry = this.get(clientId);
    if (entry) entry.state = "sending";
    return entry;
  }

  // After a reconnect: everything still waiting for its ack goes out again, in order.
  toResend() {
    return this.values().filter((entry) => entry.state === "sending");
  }
}

export { Timeline, Outbox, historyKind, GAP_WAIT_MS, HOLE_RECHECK_MS, MAX_PAGE };
