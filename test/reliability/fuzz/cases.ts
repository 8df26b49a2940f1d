import fc from "fast-check";

/**
 * Fuzzed requests, and an oracle for what the key rules (ARCHITECTURE.md, "The Idempotency-Key") say about each
 * `Idempotency-Key` as a server receives it.
 * Header values are latin1 strings: one character per byte on the wire (UTF-8 text is sent as its bytes).
 */

/** Routes every fuzz app mounts, each for POST, PATCH (guarded by default) and PUT (not guarded). */
export const FUZZ_ROUTES = {
  "/fuzz": {},
  "/required": { required: true },
  "/small": { maxRequestBytes: 1024 },
} as const;
export type FuzzPath = keyof typeof FUZZ_ROUTES;
export const FUZZ_METHODS = ["POST", "PATCH", "PUT"] as const;
export const GUARDED_METHODS = new Set(["POST", "PATCH"]);
/** The default `maxRequestBytes`. */
export const DEFAULT_MAX_REQUEST = 1_048_576;

export interface FuzzCase {
  method: (typeof FUZZ_METHODS)[number];
  path: FuzzPath;
  query: string;
  /** How the header name is spelled on the wire. */
  keyName: string;
  /** One entry per `Idempotency-Key` header line sent (none: no header). */
  keys: string[];
  contentType: string | undefined;
  body: Uint8Array;
  /** What the body generator meant, for messages and for the oracle. */
  bodyKind: string;
  chunked: boolean;
  /** Before the real request, send the same one and abort it after this fraction of its body. */
  abortFirst: number | undefined;
  /** After a first execution: resend the same bytes (replay), or another body with the same key (422). */
  retry: "none" | "same" | "different";
}

const latin1 = (text: string) => Buffer.from(text, "utf8").toString("latin1");
const visible = fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c));
const visibleString = (minLength: number, maxLength: number) => fc.string({ unit: visible, minLength, maxLength });
/** Inside an sf-string: printable ASCII except `"` and `\`, or one of the two escapes. */
const sfChar = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) },
  { weight: 1, arbitrary: fc.constantFrom('\\"', "\\\\", "\\a", "\\", '"') },
);

/** One header value: plausible keys, boundary lengths, unicode, control bytes and sf-string edge cases. */
export const keyValue: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.uuid() },
  { weight: 3, arbitrary: fc.uuid().map((u) => `stripe-node-retry-${u}`) },
  { weight: 4, arbitrary: visibleString(1, 64) },
  { weight: 2, arbitrary: fc.constantFrom(254, 255, 256, 300).chain((n) => visibleString(n, n)) },
  { weight: 1, arbitrary: visibleString(256, 4000) },
  { weight: 2, arbitrary: fc.constantFrom("", " ", "\t", '""', '"', "\\", ",", ", ", "a, b", "a, a", "a,a") },
  { weight: 2, arbitrary: fc.string({ unit: "grapheme", minLength: 1, maxLength: 20 }).map(latin1) },
  {
    weight: 2,
    // Control bytes other than CR and LF, which would end the header line; HTAB is legal inside a value.
    arbitrary: fc
      .tuple(
        visibleString(0, 10),
        fc.constantFrom(0x00, 0x01, 0x08, 0x09, 0x0b, 0x0c, 0x1b, 0x1f, 0x7f),
        visibleString(0, 10),
      )
      .map(([a, c, b]) => `${a}${String.fromCharCode(c)}${b}`),
  },
  { weight: 2, arbitrary: fc.array(sfChar, { maxLength: 40 }).map((chars) => `"${chars.join("")}"`) },
  {
    weight: 1,
    // Structured-field shapes that are not plain sf-strings: parameters, byte sequences, tokens, lists.
    arbitrary: fc.oneof(
      fc.uuid().map((u) => `"${u}";v=1`),
      fc.uint8Array({ minLength: 1, maxLength: 32 }).map((b) => `:${Buffer.from(b).toString("base64")}:`),
      fc.uuid().map((u) => `"${u}", "${u}"`),
      fc.uuid().map((u) => `${u};q=0.5`),
      fc.uuid().map((u) => `"${u}`),
    ),
  },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(" ", "\t", "  "), fc.uuid()).map(([s, u]) => `${s}${u}${s}`) },
);

/** The header lines: none, one, or a repeat of the same or of different values. */
const keyLines: fc.Arbitrary<string[]> = fc.oneof(
  { weight: 2, arbitrary: fc.constant<string[]>([]) },
  { weight: 12, arbitrary: keyValue.map((k) => [k]) },
  {
    weight: 2,
    arbitrary: fc.tuple(keyValue, fc.integer({ min: 2, max: 3 })).map(([k, n]): string[] => Array(n).fill(k)),
  },
  { weight: 2, arbitrary: fc.array(keyValue, { minLength: 2, maxLength: 3 }) },
);

const encoder = new TextEncoder();
const json = (value: unknown, space?: number) => encoder.encode(JSON.stringify(value, null, space));

function nested(depth: number, kind: "array" | "object"): Uint8Array {
  const open = kind === "array" ? "[" : '{"a":';
  const close = kind === "array" ? "]" : "}";
  return encoder.encode(`${open.repeat(depth)}1${close.repeat(depth)}`);
}

interface Body {
  kind: string;
  body: Uint8Array;
  contentType: string | undefined;
}

const jsonTypes = fc.constantFrom("application/json", "application/json; charset=utf-8", "APPLICATION/JSON");
const anyType = fc.constantFrom(
  undefined,
  "",
  "application/json",
  "application/json; charset=utf-8",
  "text/plain",
  "text/plain; charset=latin1",
  "application/octet-stream",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=xyz",
  "application/problem+json",
  "image/png",
  "garbage",
  "application/json;;;",
  "*/*",
);

/** Bodies: JSON (plain, pretty, deeply nested), malformed JSON, binary, text, empty; and bodies over the limits. */
export const bodies = (path: FuzzPath): fc.Arbitrary<Body> => {
  const limit = "maxRequestBytes" in FUZZ_ROUTES[path] ? 1024 : DEFAULT_MAX_REQUEST;
  return fc.oneof(
    {
      weight: 6,
      arbitrary: fc
        .tuple(fc.jsonValue({ maxDepth: 4 }), fc.constantFrom(undefined, 2), jsonTypes)
        .map(([v, space, contentType]) => ({ kind: "json", body: json(v, space), contentType })),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.integer({ min: 50, max: 20_000 }), fc.constantFrom("array" as const, "object" as const), jsonTypes)
        .map(([depth, shape, contentType]) => ({
          kind: `deep-json(${depth} ${shape})`,
          body: nested(depth, shape),
          contentType,
        })),
    },
    {
      weight: 3,
      arbitrary: fc
        .tuple(
          fc.oneof(
            fc.string({ maxLength: 60 }),
            fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v).slice(0, -1) || "{"),
            fc.constantFrom(
              "{",
              "[",
              '{"a":',
              "nul",
              "{'a':1}",
              '{"a":1}}',
              "\u0000",
              "\ufeff{}",
              "1e99999",
              '"\\ud800"',
            ),
          ),
          jsonTypes,
        )
        .map(([text, contentType]) => ({ kind: "malformed-json", body: encoder.encode(text), contentType })),
    },
    {
      weight: 3,
      arbitrary: fc
        .tuple(fc.uint8Array({ maxLength: 2048 }), anyType)
        .map(([body, contentType]) => ({ kind: "binary", body, contentType })),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.string({ unit: "grapheme", maxLength: 200 }), anyType)
        .map(([text, contentType]) => ({ kind: "text", body: encoder.encode(text), contentType })),
    },
    { weight: 1, arbitrary: anyType.map((contentType) => ({ kind: "empty", body: new Uint8Array(0), contentType })) },
    {
      // Only the small route gets these often: a body of a mebibyte per case would dominate the run.
      weight: path === "/small" ? 3 : 0,
      arbitrary: fc
        .tuple(fc.integer({ min: 1, max: 8192 }), fc.constantFrom("application/octet-stream", "text/plain"))
        .map(([over, contentType]) => ({
          kind: `oversize(+${over})`,
          body: new Uint8Array(limit + over).fill(0x61),
          contentType,
        })),
    },
  );
};

/** A whole case. Oversize bodies on the default-limit route are rare (one case in ~200) and made by `oversizeCase`. */
export const fuzzCase: fc.Arbitrary<FuzzCase> = fc
  .record({
    method: fc.constantFrom(...FUZZ_METHODS),
    path: fc.constantFrom<FuzzPath>("/fuzz", "/fuzz", "/fuzz", "/required", "/small"),
    query: fc.constantFrom("", "", "", "?a=1&b=2", "?b=2&a=1", "?%ZZ", "?a=%E0%A4%A", "?=&&=", "?a=1&a=2", "?x=%00"),
    keyName: fc.constantFrom("Idempotency-Key", "idempotency-key", "IDEMPOTENCY-KEY"),
    keys: keyLines,
    chunked: fc.boolean(),
    abort: fc.oneof(
      { weight: 9, arbitrary: fc.constant(null) },
      { weight: 1, arbitrary: fc.double({ min: 0, max: 0.95, noNaN: true }) },
    ),
    retry: fc.constantFrom("none", "same", "same", "different"),
  })
  .chain((c) =>
    bodies(c.path).map(
      (b): FuzzCase =>
        printable({
          method: c.method,
          path: c.path,
          query: c.query,
          keyName: c.keyName,
          keys: c.keys,
          contentType: b.contentType,
          body: b.body,
          bodyKind: b.kind,
          chunked: c.chunked,
          abortFirst: c.abort === null || b.body.byteLength < 2 ? undefined : c.abort,
          retry: c.retry as FuzzCase["retry"],
        }),
    ),
  );

/** A case with a body over the default 1 MiB limit, on the default route. */
export const oversizeCase: fc.Arbitrary<FuzzCase> = fc
  .record({ over: fc.integer({ min: 1, max: 65_536 }), key: fc.uuid(), chunked: fc.boolean() })
  .map(({ over, key, chunked }) =>
    printable({
      method: "POST",
      path: "/fuzz",
      query: "",
      keyName: "Idempotency-Key",
      keys: [key],
      contentType: "application/octet-stream",
      body: new Uint8Array(DEFAULT_MAX_REQUEST + over).fill(0x62),
      bodyKind: `oversize(+${over})`,
      chunked,
      abortFirst: undefined,
      retry: "none",
    }),
  );

export type KeyVerdict =
  | { kind: "absent" }
  | { kind: "invalid"; why: string }
  /** A byte the HTTP parser itself refuses (a control character): the server answers 400 before any app code. */
  | { kind: "unparseable"; why: string }
  | { kind: "valid"; key: string };

const OWS = /^[ \t]+|[ \t]+$/g;

/**
 * What the key rules (ARCHITECTURE.md, "The Idempotency-Key") make of the header lines, written from the rules rather
 * than from src/core/key.ts:
 * HTTP trims the value's surrounding whitespace and joins repeated lines with ", " (which a server cannot tell from a
 * single line holding ", "; a valid key has no space, so ", " only ever separates copies); each copy is an unquoted
 * key of 1-255 visible ASCII characters, or an sf-string whose unescaped content meets the same limits; all copies
 * must be equal.
 */
export function judgeKey(lines: string[]): KeyVerdict {
  if (lines.length === 0) return { kind: "absent" };
  for (const line of lines) {
    for (const ch of line) {
      const code = ch.charCodeAt(0);
      if ((code < 0x20 && code !== 0x09) || code === 0x7f)
        return { kind: "unparseable", why: `byte 0x${code.toString(16)}` };
    }
  }
  const copies = lines
    .map((line) => line.replace(OWS, ""))
    .join(", ")
    .split(", ")
    .map((c) => c.replace(OWS, ""));
  const keys: string[] = [];
  for (const copy of copies) {
    let key = copy;
    if (copy.startsWith('"')) {
      const unquoted = unquote(copy);
      if (unquoted === undefined) return { kind: "invalid", why: "bad sf-string" };
      key = unquoted;
    }
    if (key.length === 0) return { kind: "invalid", why: "empty" };
    if (key.length > 255) return { kind: "invalid", why: "over 255" };
    for (const ch of key) {
      const code = ch.charCodeAt(0);
      if (code < 0x21 || code > 0x7e) return { kind: "invalid", why: "not visible ASCII" };
    }
    keys.push(key);
  }
  if (keys.some((k) => k !== keys[0])) return { kind: "invalid", why: "repeated with different values" };
  return { kind: "valid", key: keys[0]! };
}

/** RFC 9651 §4.2.5: the content of an sf-string, or undefined when the whole value is not exactly one. */
function unquote(value: string): string | undefined {
  let out = "";
  for (let i = 1; i < value.length; i++) {
    const ch = value[i]!;
    const code = ch.charCodeAt(0);
    if (ch === "\\") {
      const next = value[i + 1];
      if (next !== '"' && next !== "\\") return undefined;
      out += next;
      i++;
    } else if (ch === '"') {
      return i === value.length - 1 ? out : undefined;
    } else if (code < 0x20 || code > 0x7e) {
      return undefined;
    } else {
      out += ch;
    }
  }
  return undefined;
}

/** Makes fast-check print a counterexample as `describeCase` does (bodies summarised, not dumped byte by byte). */
function printable(c: FuzzCase): FuzzCase {
  return Object.defineProperty(c, fc.toStringMethod, { value: () => describeCase(c), enumerable: false });
}

/** A short description of a case for failure messages (bodies summarised). */
export function describeCase(c: FuzzCase): string {
  return JSON.stringify({
    ...c,
    keys: c.keys.map((k) => (k.length > 80 ? `${k.slice(0, 40)}...(${k.length})` : k)),
    body: c.body.byteLength > 120 ? `${c.body.byteLength} bytes` : Buffer.from(c.body).toString("latin1"),
  });
}
