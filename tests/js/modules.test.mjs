// The page's files as a whole (static/chat/*.js): ES modules that share nothing through
// globals, insert no HTML, stay small, and import one another in a shallow graph without
// cycles: Django's manifest storage rewrites each relative import to the hashed file, one
// level of the graph per pass, and gives up after five passes (or on a cycle).
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import test from "node:test";

const DIR = new URL("../../static/chat/", import.meta.url);
const MAX_LINES = 400;
const MAX_DEPTH = 3; // import edges from an entry module to the deepest module it reaches
const ENTRIES = ["app.js", "home.js"];

const files = readdirSync(DIR).filter((name) => name.endsWith(".js"));
const source = Object.fromEntries(files.map((name) => [name, readFileSync(new URL(name, DIR), "utf8")]));

function imports(name) {
  return [...source[name].matchAll(/^import\s[^;]*?\bfrom\s*"([^"]+)";/gms)].map((m) => m[1]);
}

test("every file is small enough to read in one go", () => {
  for (const name of files) {
    const lines = source[name].split("\n").length - 1;
    assert.ok(lines <= MAX_LINES, `${name} has ${lines} lines`);
  }
});

test("no file sets a global or inserts HTML", () => {
  for (const name of files) {
    const text = source[name];
    assert.doesNotMatch(text, /\b(window|globalThis|self)\.\w+\s*=[^=]/, name);
    assert.doesNotMatch(text, /\b(innerHTML|outerHTML|insertAdjacentHTML|document\.write)\b/, name);
    assert.doesNotMatch(text, /^\(function/m, `${name} is still a classic script`);
  }
});

test("imports are relative, name a file that exists, and form no cycle", () => {
  const depth = new Map();
  function walk(name, path) {
    assert.ok(!path.includes(name), `import cycle: ${[...path, name].join(" -> ")}`);
    if (depth.has(name)) return depth.get(name);
    let deepest = 0;
    for (const target of imports(name)) {
      assert.match(target, /^\.\/[\w-]+\.js$/, `${name} imports ${target}`);
      const file = target.slice(2);
      assert.ok(files.includes(file), `${name} imports ${target}, which is missing`);
      deepest = Math.max(deepest, 1 + walk(file, [...path, name]));
    }
    depth.set(name, deepest);
    return deepest;
  }
  for (const entry of ENTRIES) {
    assert.ok(walk(entry, []) <= MAX_DEPTH, `${entry} reaches ${depth.get(entry)} imports deep`);
  }
  const reached = new Set(depth.keys());
  assert.deepEqual(
    files.filter((name) => !reached.has(name)),
    [],
    "every file is reached from a page's entry module",
  );
});

test("the pure modules load under Node and set no globals", async () => {
  const timeline = await import(new URL("timeline.js", DIR));
  const format = await import(new URL("format.js", DIR));
  assert.equal(typeof timeline.Timeline, "function");
  assert.equal(typeof format.linkParts, "function");
  assert.equal(globalThis.ChatTimeline, undefined);
  assert.equal(globalThis.ChatFormat, undefined);
});
