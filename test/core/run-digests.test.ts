import { describe, expect, it } from "vitest";
import { canonicalJson } from "../../src/core/canonical-json.js";
import { hashParts } from "../../src/core/hash.js";
import { recordId, scopeHash } from "../../src/core/record-id.js";
import { inputJson, runDigests, runScopeHash } from "../../src/core/run-digests.js";

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

// The memo only saves work: every digest it answers must be the one computed afresh, remembered or not.
const fresh = (scope: string | undefined, key: string, name: string, input: unknown) => ({
  id: recordId(scope, key),
  fingerprint: hashParts(["oncely:run", name, input === undefined ? "" : canonicalJson(input)]),
});
const digestsOf = (scope: string | undefined, key: string, name: string, input: unknown) => {
  const { id, fingerprint } = runDigests(scope, key, name, input);
  return { id, fingerprint };
};

class Charge {
  constructor(readonly amount: number) {}
}

// A first input, then a retry's: the retry is compared with a copy of the first, and must get its own digests.
const RETRIES: [string, unknown, unknown][] = [
  ["the same object", { amount: 1, note: "x" }, { amount: 1, note: "x" }],
  ["keys in another order", { amount: 1, note: "x" }, { note: "x", amount: 1 }],
  ["an undefined value more", { amount: 1 }, { amount: 1, note: undefined }],
  ["a function value more", { amount: 1 }, { amount: 1, f: () => 1 }],
  ["a key more", { amount: 1 }, { amount: 1, note: "x" }],
  ["a key less", { amount: 1, note: "x" }, { amount: 1 }],
  ["another value", { amount: 1 }, { amount: 2 }],
  ["0 and -0", { amount: 0 }, { amount: -0 }],
  ["a number and its string", { amount: 1 }, { amount: "1" }],
  ["an array and an object", { a: [] }, { a: {} }],
  ["an object and an array", { a: {} }, { a: [] }],
  ["arrays of other lengths", { a: [1, 2] }, { a: [1, 2, 3] }],
  ["a hole and null", { a: [1, null, 3] }, { a: holey }],
  ["nested, reordered", { a: { y: [1, { q: 1, p: 2 }], x: null } }, { a: { x: null, y: [1, { p: 2, q: 1 }] } }],
  ["nested, other", { a: { y: [1, { q: 1 }] } }, { a: { y: [1, { q: 2 }] } }],
  ["a class instance with the same keys", { amount: 1 }, new Charge(1)],
  ["a Date and an empty object", {}, new Date(0)],
  ["an inherited key", { k: 1 }, Object.create({ k: 1 })],
  ["an own __proto__ key", JSON.parse('{"__proto__":1}'), JSON.parse('{"__proto__":1}')],
  ["an own __proto__ key and none", JSON.parse('{"__proto__":1}'), {}],
  ["a key named like Object.prototype's", { toString: 1 }, {}],
  ["a bigint", { a: 1 }, { a: 1n }],
  ["a symbol and null", { a: null }, { a: Symbol("s") }],
  ["Infinity", { a: Number.POSITIVE_INFINITY }, { a: Number.POSITIVE_INFINITY }],
  ["no input, then one", undefined, { a: 1 }],
  ["one, then no input", { a: 1 }, undefined],
  ["a string", "x", "x"],
  ["a string and another", "x", "y"],
];

describe("the digests idem.run remembers", () => {
  it("are the digests records are stored under, on first use and on repeats", () => {
    for (let round = 0; round < 2; round++) {
      expect(runDigests(undefined, "order-1", "charge", { amount: 1 })).toMatchObject({
        id: "YmgtDGEbWCRT7i71nWz-mzchwhx55gQu1psTSp9JqAM",
        fingerprint: hashParts(["oncely:run", "charge", '{"amount":1}']),
      });
      expect(runDigests("acct_42", "order-1", "charge", undefined).id).toBe(
        "v9rQ-sgKnKQw4qrb8AKni1QMnj0XPHfBovEuvgzVEXQ",
      );
      expect(runScopeHash("acct_42")).toBe("ZKmyuGi8s-ZXLT3K");
    }
  });

  it.each(RETRIES)("give a retry its own digests: %s", (name, first, retry) => {
    const key = `retry-${name}`;
    expect(digestsOf("s", key, "tool", first)).toEqual(fresh("s", key, "tool", first));
    expect(digestsOf("s", key, "tool", retry)).toEqual(fresh("s", key, "tool", retry));
    expect(digestsOf("s", key, "tool", first)).toEqual(fresh("s", key, "tool", first));
  });

  it("compare a retry with the input as it was, though the caller changed it since", () => {
    const input = { amount: 1, items: [{ sku: "a" }] };
    expect(digestsOf(undefined, "changed", "tool", input)).toEqual(fresh(undefined, "changed", "tool", input));
    input.items[0]!.sku = "b";
    expect(digestsOf(undefined, "changed", "tool", input)).toEqual(fresh(undefined, "changed", "tool", input));
    expect(digestsOf(undefined, "changed", "other", input)).toEqual(fresh(undefined, "changed", "other", input));
  });

  it("keep apart scopes and keys their texts could run together", () => {
    expect(digestsOf("a", "b", "t", 1)).toEqual(fresh("a", "b", "t", 1));
    expect(digestsOf(undefined, "1:ab", "t", 1)).toEqual(fresh(undefined, "1:ab", "t", 1));
    expect(digestsOf("", "a", "t", 1)).toEqual(fresh("", "a", "t", 1));
    expect(digestsOf(undefined, "a", "t", 1)).toEqual(fresh(undefined, "a", "t", 1));
  });

  it("stay right past the memo's bound, and for texts too long to remember", () => {
    for (let i = 0; i < 2000; i++) {
      const key = `key-${i % 1500}`;
      expect(digestsOf("tenant", key, "t", { i: i % 3 })).toEqual(fresh("tenant", key, "t", { i: i % 3 }));
      expect(runScopeHash(`tenant-${i % 700}`)).toBe(scopeHash(`tenant-${i % 700}`));
    }
    const long = { text: "x".repeat(5000) };
    expect(digestsOf(undefined, "big", "t", long)).toEqual(fresh(undefined, "big", "t", long));
    expect(digestsOf(undefined, "big", "t", { ...long, more: 1 })).toEqual(
      fresh(undefined, "big", "t", { ...long, more: 1 }),
    );
  });
});
