import { describe, expect, it } from "vitest";
import { defaultFingerprint } from "../../src/core/fingerprint.js";
import { hashParts } from "../../src/core/hash.js";
import type { IdempotencyRequest } from "../../src/core/request.js";
import { canonicalJsonFromBytes, isCanonicalAsciiJson } from "../../src/core/strict-json.js";

const enc = (text: string) => new TextEncoder().encode(text);
const bytes = (...parts: (string | number[])[]) =>
  Buffer.concat(parts.map((part) => (typeof part === "string" ? Buffer.from(part) : Buffer.from(part))));

function request(body: Uint8Array | undefined, extra: Partial<IdempotencyRequest> = {}): IdempotencyRequest {
  return {
    method: "POST",
    path: "/charges",
    query: "",
    headers: { "content-type": "application/json" },
    body,
    raw: undefined,
    ...extra,
  };
}
const ofBody = (body: Uint8Array | string) => defaultFingerprint(request(typeof body === "string" ? enc(body) : body));
const ofQuery = (query: string) => defaultFingerprint(request(undefined, { query }));
const ofParsed = (parsedBody: unknown) => defaultFingerprint(request(undefined, { parsedBody }));

// Pairs that some mainstream parser reads as different requests: they must never share a fingerprint.
const DIFFERENT_BODIES: [string, Uint8Array | string, Uint8Array | string][] = [
  ["integers beyond 2^53", '{"n":10000000000000001}', '{"n":10000000000000000}'],
  ["decimals beyond a double's precision", '{"n":0.1000000000000000000001}', '{"n":0.1}'],
  ["a number out of a double's range", '{"n":1e400}', '{"n":1e401}'],
  ["a number out of range and null", '{"n":1e400}', '{"n":null}'],
  ["one number spelt two ways", '{"n":1.0}', '{"n":1}'],
  ["minus zero", '{"n":-0}', '{"n":0}'],
  ["a repeated key", '{"to":"alice","to":"mallory"}', '{"to":"mallory"}'],
  ["a repeated key, deep", '{"a":[{"b":{"to":"alice","to":"mallory"}}]}', '{"a":[{"b":{"to":"mallory"}}]}'],
  ["a repeated key spelt with an escape", '{"to":"alice","t\\u006f":"mallory"}', '{"to":"mallory"}'],
  ["invalid UTF-8 in a string", bytes('{"to":"', [0xff], '"}'), bytes('{"to":"', [0xfe], '"}')],
  ["invalid UTF-8 and U+FFFD", bytes('{"to":"', [0xff], '"}'), '{"to":"\ufffd"}'],
  ["lone surrogate escapes", '{"to":"\\ud800"}', '{"to":"\\ud801"}'],
  ["a lone low surrogate escape", '{"to":"\\udc00"}', '{"to":"\\udc01"}'],
  ["a high surrogate before a non-surrogate escape", '{"to":"\\ud800\\u0061"}', '{"to":"\\ud801\\u0061"}'],
];

// Pairs every parser reads as the same value: merging them is what canonical JSON is for.
const SAME_BODIES: [string, string, string][] = [
  ["key order", '{"a":1,"b":{"d":2,"c":3}}', '{"b":{"c":3,"d":2},"a":1}'],
  ["whitespace", '{"a":[1,2],"b":true}', ' {\n\t"a" : [ 1 , 2 ] ,\r\n "b" : true } '],
  ["string escapes", '{"s":"a/\\u00e9\\ud83d\\ude00"}', '{"s":"\\u0061\\/é😀"}'],
  ["an escaped key", '{"\\u0061":1}', '{"a":1}'],
  ["control characters escaped two ways", '{"s":"\\u000a\\u0008"}', '{"s":"\\n\\b"}'],
];

describe("defaultFingerprint", () => {
  it.each(DIFFERENT_BODIES)("keeps apart JSON bodies that parsers read differently: %s", (_, a, b) => {
    expect(ofBody(a)).not.toBe(ofBody(b));
  });

  it.each(SAME_BODIES)("merges JSON bodies every parser reads alike: %s", (_, a, b) => {
    expect(ofBody(a)).toBe(ofBody(b));
  });

  it("compares as bytes what is not JSON, not UTF-8, or nests too deep", () => {
    for (const body of ["{ not json", '{"a":1} x', '{"a":01}', '{"a":1,}', "\ufeff{}", "[".repeat(1001)]) {
      expect(canonicalJsonFromBytes(enc(body)), body).toBeUndefined();
      expect(ofBody(body)).toBe(defaultFingerprint(request(enc(body), { headers: { "content-type": "text/plain" } })));
    }
    // Text that ends inside a token: the scanner must stop at the end, not read on.
    for (const body of ["1", "-", "1.", "1e", "1e+", '{"a":1', '{"a":-12', "[1,2", '"abc', '"a\\', '"\\u12', "tru"]) {
      const canonical = canonicalJsonFromBytes(enc(body));
      if (body === "1") expect(canonical).toBe("1");
      else expect(canonical, body).toBeUndefined();
    }
    const nested = `${"[".repeat(1000)}${"]".repeat(1000)}`;
    expect(canonicalJsonFromBytes(enc(nested))).toBe(nested);
  });

  it("writes the canonical form JSON.stringify would write for the parsed value, numbers as written", () => {
    const body = ' { "z" : [ 1.50 , -0 , 2E+3 , "\\u00e9\\"\\\\" ] , "a" : { } , "m" : null , "é" : false } ';
    expect(canonicalJsonFromBytes(enc(body))).toBe('{"a":{},"m":null,"z":[1.50,-0,2E+3,"é\\"\\\\"],"é":false}');
    const plain = '{"b":[true,{"y":"x","x":"\\u2028"}],"a":"\\u001f"}';
    const value = JSON.parse(plain);
    const sorted = { a: value.a, b: [true, { x: value.b[1].x, y: "x" }] };
    expect(canonicalJsonFromBytes(enc(plain))).toBe(JSON.stringify(sorted));
  });

  it("hashes a body already in canonical form as its bytes, to the fingerprint of its canonical text", () => {
    const canonical = [
      '{"a":1,"b":[true,false,null,-1.5e+3,{}],"c":{"x":"y z"}}',
      "[]",
      "0",
      '"s"',
      '{"A":1,"B":2,"a":3}',
    ];
    const not = [
      '{"b":1,"a":2}',
      '{"a":1,"a":1}',
      '{"a": 1}',
      ' {"a":1}',
      '{"s":"\\n"}',
      '{"s":"é"}',
      '{"n":01}',
      '{"n":1.}',
      '{"a":1}x',
      "tru",
      '{"ab":1,"a":2}',
      "[".repeat(1001) + "]".repeat(1001),
    ];
    const fingerprintOfText = (body: string) =>
      hashParts(["POST", "/charges", "", canonicalJsonFromBytes(enc(body)) ?? enc(body)]);
    for (const body of canonical) {
      expect(isCanonicalAsciiJson(enc(body)), body).toBe(true);
      expect(canonicalJsonFromBytes(enc(body))).toBe(body);
      expect(ofBody(body)).toBe(fingerprintOfText(body));
    }
    for (const body of not) expect(isCanonicalAsciiJson(enc(body)), body).toBe(false);
    // Random values, written with their keys sorted or not: the fast path never changes a fingerprint.
    let seed = 7;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const value = (depth: number): unknown => {
      const kind = random(depth > 3 ? 4 : 6);
      if (kind === 0) return random(3) === 0 ? -random(1000) / 8 : random(1e6);
      if (kind === 1) return ["", "a", "b", "ab", "A", "x y", 'q"q', "é", "\n"][random(9)];
      if (kind === 2) return [true, false, null][random(3)];
      if (kind === 3) return random(2) === 0 ? 1e21 : 0.5;
      if (kind === 4) return Array.from({ length: random(4) }, () => value(depth + 1));
      const entries = Array.from({ length: random(5) }, () => [
        ["a", "b", "ab", "B", "é", 'a"b'][random(6)]!,
        value(depth + 1),
      ]);
      if (random(2) === 0) entries.sort(([a], [b]) => (a! < b! ? -1 : a! > b! ? 1 : 0));
      return Object.fromEntries(entries);
    };
    let fast = 0;
    for (let i = 0; i < 2000; i++) {
      const body = JSON.stringify(value(0));
      if (isCanonicalAsciiJson(enc(body))) {
        fast++;
        expect(canonicalJsonFromBytes(enc(body))).toBe(body);
      }
      expect(ofBody(body)).toBe(fingerprintOfText(body));
    }
    expect(fast).toBeGreaterThan(200);
  });

  it("keeps apart queries that are not percent-encoded UTF-8, and sorts the ones that are", () => {
    expect(ofQuery("a=%FF")).not.toBe(ofQuery("a=%FE"));
    expect(ofQuery("a=%FF")).not.toBe(ofQuery("a=%EF%BF%BD"));
    expect(ofQuery("a=%ED%A0%80")).not.toBe(ofQuery("a=%ED%A0%81")); // UTF-8 of lone surrogates
    expect(ofQuery("a=%zz&b=1")).not.toBe(ofQuery("b=1&a=%zz"));
    expect(ofQuery("b=%C3%A9&a=1")).toBe(ofQuery("a=1&b=%c3%a9"));
    expect(ofQuery("a=1&b=2&a=0")).not.toBe(ofQuery("a=0&b=2&a=1"));
  });

  it("keeps apart parsed values that JSON.stringify would write alike", () => {
    expect(ofParsed({ n: Number.POSITIVE_INFINITY })).not.toBe(ofParsed({ n: null }));
    expect(ofParsed({ n: -0 })).not.toBe(ofParsed({ n: 0 }));
    expect(ofParsed({ n: 1n })).not.toBe(ofParsed({ n: 1 }));
    expect(ofParsed({ s: "\ud800" })).not.toBe(ofParsed({ s: "\ud801" }));
    expect(ofParsed({ b: 1, a: [1, "x"] })).toBe(ofBody('{"a":[1,"x"],"b":1}'));
  });
});
