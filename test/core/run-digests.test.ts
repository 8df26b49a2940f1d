import { describe, expect, it } from "vitest";
import { canonicalJson } from "../../src/core/canonical-json.js";
import { hashParts } from "../../src/core/hash.js";
import { recordId, scopeHash } from "../../src/core/record-id.js";
import { inputJson, runFingerprint, runRecordId, runScopeHash } from "../../src/core/run-digests.js";

/** The canonical form spelled out the slow way: keys sorted at every depth, written one by one. */
function reference(value: unknown): string {
  if (typeof value === "number") {
    if (Object.is(value, -0)) return "-0";
    return Number.isFinite(value) ? JSON.stringify(value) : String(value);
  }
  if (typeof value === "bigint") return `${value}n`;
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map(reference).join(",")}]`;
  const keys = Object.keys(value).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const parts: string[] = [];
  for (const key of keys) {
    const item = (value as Record<string, unknown>)[key];
    if (item === undefined || typeof item === "function") continue;
    parts.push(`${JSON.stringify(key)}:${reference(item)}`);
  }
  return `{${parts.join(",")}}`;
}

class Point {
  constructor(
    readonly x: number,
    readonly y: number,
  ) {}
  toJSON() {
    return "a point";
  }
}

const hiddenToJson = { a: 1 };
Object.defineProperty(hiddenToJson, "toJSON", { value: () => "hidden", enumerable: false });
const arrayToJson = Object.assign([1, 2], { toJSON: () => "array" });
// biome-ignore lint/suspicious/noSparseArray: the hole is the case.
const holey = [1, , 3];
const nullPrototype = Object.assign(Object.create(null), { a: 1, b: [true, null] });

const VALUES: [string, unknown][] = [
  ["keys in order", { amount: 1999, note: "a charge" }],
  ["keys out of order", { note: "a charge", amount: 1999 }],
  ["in order outside, out of order inside", { a: { z: 1, b: 2 }, b: [{ y: 1, x: 2 }] }],
  ["integer-like keys, which objects list first", { "10": 1, "9": 2, a: 3 }],
  ["minus zero in an ordered object", { a: -0, b: [0, -0] }],
  ["non-finite numbers", { a: Number.POSITIVE_INFINITY, b: Number.NaN, c: [Number.NEGATIVE_INFINITY] }],
  ["a bigint", { a: 1n }],
  ["undefined and functions", { a: undefined, b: () => 1, c: [undefined, () => 1] }],
  ["a hole in an array", { a: holey }],
  ["a Date (its toJSON)", { at: new Date(0) }],
  ["a class with toJSON", { p: new Point(1, 2) }],
  ["a toJSON that is not enumerable", { o: hiddenToJson }],
  ["an array with toJSON", { a: arrayToJson }],
  ["a null-prototype object", nullPrototype],
  ["strings that need escapes", { a: '"\\\n\u2028', b: "\ud800", é: "é" }],
  ["empty containers", { a: {}, b: [] }],
  ["a top-level array", [{ b: 1, a: 2 }, "x", null, true]],
  ["a string", "text"],
  ["a number", 1.5],
  ["null", null],
];

describe("inputJson, the canonical JSON of a run's input", () => {
  it.each(VALUES)("writes %s as the keys-sorted form, as canonicalJson does", (_, value) => {
    expect(inputJson(value)).toBe(reference(value));
    expect(inputJson(value)).toBe(canonicalJson(value));
  });

  it("writes keys in UTF-16 order at every depth, and values JSON.stringify would merge apart", () => {
    expect(inputJson({ b: 1, a: { d: [1, { f: 1, e: 2 }], c: 2 } })).toBe('{"a":{"c":2,"d":[1,{"e":2,"f":1}]},"b":1}');
    expect(inputJson({ a: -0 })).toBe('{"a":-0}');
    expect(inputJson({ a: Number.POSITIVE_INFINITY })).toBe('{"a":Infinity}');
    expect(inputJson({ "10": 1, "9": 2 })).toBe('{"10":1,"9":2}');
  });
});

// The memo only saves hashing: every digest it answers must be the one computed afresh, remembered or not.
describe("the digests idem.run remembers", () => {
  it("are the digests records are stored under, on first use and on repeats", () => {
    for (let round = 0; round < 2; round++) {
      expect(runRecordId(undefined, "order-1")).toBe("YmgtDGEbWCRT7i71nWz-mzchwhx55gQu1psTSp9JqAM");
      expect(runRecordId("acct_42", "order-1")).toBe("v9rQ-sgKnKQw4qrb8AKni1QMnj0XPHfBovEuvgzVEXQ");
      expect(runScopeHash("acct_42")).toBe("ZKmyuGi8s-ZXLT3K");
      expect(runFingerprint("charge", { amount: 1 })).toBe(hashParts(["oncely:run", "charge", '{"amount":1}']));
      expect(runFingerprint("charge", { b: 1, a: 2 })).toBe(hashParts(["oncely:run", "charge", '{"a":2,"b":1}']));
      expect(runFingerprint("charge", undefined)).toBe(hashParts(["oncely:run", "charge", ""]));
    }
  });

  it("keep apart what their texts could run together", () => {
    expect(runRecordId("a", "b")).toBe(recordId("a", "b"));
    expect(runRecordId("", "a")).toBe(recordId("", "a"));
    expect(runRecordId(undefined, "a")).toBe(recordId(undefined, "a"));
    expect(runRecordId(undefined, "1:ab")).toBe(recordId(undefined, "1:ab"));
    expect(runRecordId("a", "b")).not.toBe(runRecordId(undefined, "1:ab"));
    expect(runFingerprint("ab", 1)).toBe(hashParts(["oncely:run", "ab", "1"]));
    expect(runFingerprint("a", "b1")).toBe(hashParts(["oncely:run", "a", '"b1"']));
    expect(runFingerprint('a"', "1")).toBe(hashParts(["oncely:run", 'a"', '"1"']));
    expect(runFingerprint("1:a", 2)).toBe(hashParts(["oncely:run", "1:a", "2"]));
  });

  it("stay right past the memo's bound, and for texts too long to remember", () => {
    for (let i = 0; i < 2000; i++) {
      const key = `key-${i % 1500}`;
      expect(runRecordId("tenant", key)).toBe(recordId("tenant", key));
      expect(runScopeHash(`tenant-${i % 700}`)).toBe(scopeHash(`tenant-${i % 700}`));
    }
    const long = "x".repeat(5000);
    expect(runFingerprint("big", long)).toBe(hashParts(["oncely:run", "big", JSON.stringify(long)]));
    expect(runFingerprint("big", long)).toBe(hashParts(["oncely:run", "big", JSON.stringify(long)]));
  });
});
