import { sortByKey } from "./sort-by-key.js";

/**
 * Canonical JSON read straight from a body's bytes, for the fingerprint. Two bodies may share a canonical form only
 * when every mainstream parser reads them as the same value, so this refuses (returns `undefined`, and the caller
 * compares bytes) whatever parsers disagree on or lose:
 * - bytes that are not UTF-8, and `\u` escapes that leave a lone surrogate (decoders replace both with U+FFFD, so
 *   different bytes would read alike);
 * - an object with a repeated key (parsers differ on which one wins);
 * - anything that is not JSON, and nesting deeper than {@link MAX_DEPTH}.
 * Numbers are kept exactly as written: `10000000000000001` and `10000000000000000` are one double, yet different
 * numbers to a parser that keeps big integers or decimals. What is merged: whitespace between tokens, the order of
 * object keys, and the spelling of a string (`"\u0061"`, `"\/"` and `"a"`, `"/"` are written the one way
 * `JSON.stringify` writes them).
 */
export function canonicalJsonFromBytes(bytes: Uint8Array): string | undefined {
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
  const scanner = new Scanner(text);
  try {
    const value = scanner.value(0);
    scanner.skipWhitespace();
    return scanner.position === text.length ? value : undefined;
  } catch (error) {
    if (error === NOT_CANONICAL) return undefined;
    throw error;
  }
}

/**
 * True when `bytes` are ASCII JSON already in the canonical form `canonicalJsonFromBytes` writes: no whitespace, object
 * keys in strictly increasing order (so none repeated), strings without escapes or control characters, numbers and
 * literals as JSON spells them. Such bytes are their own canonical text, so the fingerprint hashes them as they are,
 * without decoding them or building the text again (what `JSON.stringify` sends with sorted keys, and bodies that
 * happen to be written so). False says only that the long way must decide.
 */
export function isCanonicalAsciiJson(bytes: Uint8Array): boolean {
  const end = canonicalValue(bytes, 0, 0);
  return end === bytes.length;
}

/** Past the canonical ASCII value at `at`, or -1 where it is not one (see `isCanonicalAsciiJson`). */
function canonicalValue(bytes: Uint8Array, at: number, depth: number): number {
  const code = bytes[at];
  if (code === QUOTE) return canonicalString(bytes, at);
  if (code === 0x7b /* { */) {
    if (depth >= MAX_DEPTH) return -1;
    if (bytes[at + 1] === 0x7d /* } */) return at + 2;
    let keyStart = -1;
    let keyEnd = -1;
    let position = at + 1;
    for (;;) {
      if (bytes[position] !== QUOTE) return -1;
      const end = canonicalString(bytes, position);
      if (end === -1) return -1;
      // Keys compared as bytes, which for ASCII is the order of UTF-16 code units the canonical form sorts by.
      if (keyStart !== -1 && compareBytes(bytes, keyStart, keyEnd, position + 1, end - 1) >= 0) return -1;
      keyStart = position + 1;
      keyEnd = end - 1;
      if (bytes[end] !== 0x3a /* : */) return -1;
      position = canonicalValue(bytes, end + 1, depth + 1);
      if (position === -1) return -1;
      const next = bytes[position];
      if (next === 0x7d) return position + 1;
      if (next !== 0x2c /* , */) return -1;
      position++;
    }
  }
  if (code === 0x5b /* [ */) {
    if (depth >= MAX_DEPTH) return -1;
    if (bytes[at + 1] === 0x5d /* ] */) return at + 2;
    let position = at + 1;
    for (;;) {
      position = canonicalValue(bytes, position, depth + 1);
      if (position === -1) return -1;
      const next = bytes[position];
      if (next === 0x5d) return position + 1;
      if (next !== 0x2c) return -1;
      position++;
    }
  }
  if (code === 0x2d /* - */ || (code !== undefined && code >= 0x30 && code <= 0x39)) return canonicalNumber(bytes, at);
  for (const literal of LITERALS) {
    if (literal.every((byte, i) => bytes[at + i] === byte)) return at + literal.length;
  }
  return -1;
}

const LITERALS = [
  [0x74, 0x72, 0x75, 0x65],
  [0x66, 0x61, 0x6c, 0x73, 0x65],
  [0x6e, 0x75, 0x6c, 0x6c],
] as const;

/** Past a string of printable ASCII without a backslash (its canonical spelling is itself), or -1. */
function canonicalString(bytes: Uint8Array, at: number): number {
  for (let position = at + 1; position < bytes.length; position++) {
    const code = bytes[position]!;
    if (code === QUOTE) return position + 1;
    if (code === BACKSLASH || code < 0x20 || code >= 0x7f) return -1;
  }
  return -1;
}

/** Past a number that JSON's grammar accepts (kept as written, so its canonical spelling is itself), or -1. */
function canonicalNumber(bytes: Uint8Array, at: number): number {
  let position = at;
  if (bytes[position] === 0x2d) position++;
  if (bytes[position] === 0x30) position++;
  else position = pastDigits(bytes, position);
  if (position !== -1 && bytes[position] === 0x2e /* . */) position = pastDigits(bytes, position + 1);
  if (position === -1) return -1;
  const code = bytes[position];
  if (code === 0x65 || code === 0x45 /* e E */) {
    position++;
    const sign = bytes[position];
    if (sign === 0x2b || sign === 0x2d) position++;
    position = pastDigits(bytes, position);
  }
  return position;
}

/** Past one or more digits from `at`, or -1 where there is none. */
function pastDigits(bytes: Uint8Array, at: number): number {
  let position = at;
  while (position < bytes.length && bytes[position]! >= 0x30 && bytes[position]! <= 0x39) position++;
  return position === at ? -1 : position;
}

/** The order of the byte ranges `[a, aEnd)` and `[b, bEnd)`: negative, zero or positive. */
function compareBytes(bytes: Uint8Array, a: number, aEnd: number, b: number, bEnd: number): number {
  const length = Math.min(aEnd - a, bEnd - b);
  for (let i = 0; i < length; i++) {
    const difference = bytes[a + i]! - bytes[b + i]!;
    if (difference !== 0) return difference;
  }
  return aEnd - a - (bEnd - b);
}

/** Deeper than this is compared as bytes: canonicalising it would only risk the stack. */
const MAX_DEPTH = 1000;

/** Keeps a byte order mark as a character, which is not JSON: a body that starts with one is compared as bytes. */
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Thrown (never escapes this module) when the text cannot be canonicalised; cheaper than a new Error each time. */
const NOT_CANONICAL = Symbol("not canonical");

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const ESCAPED: Record<number, string> = {
  34: '"',
  92: "\\",
  47: "/",
  98: "\b",
  102: "\f",
  110: "\n",
  114: "\r",
  116: "\t",
};

/** A member of an object: its decoded key (for sorting and duplicates) and its canonical `"key":value` text. */
type Member = [key: string, text: string];

const memberKey = (member: Member) => member[0];

class Scanner {
  position = 0;
  /** Whether the last string read had an escape, so its canonical form must be written out again. */
  private escaped = false;

  constructor(private readonly text: string) {}

  value(depth: number): string {
    this.skipWhitespace();
    const code = this.text.charCodeAt(this.position);
    if (code === QUOTE) return this.quoted(this.string());
    if (code === 0x7b /* { */) return this.object(depth + 1);
    if (code === 0x5b /* [ */) return this.array(depth + 1);
    if (code === 0x2d /* - */ || (code >= 0x30 && code <= 0x39)) return this.number();
    for (const literal of ["true", "false", "null"]) {
      if (this.text.startsWith(literal, this.position)) {
        this.position += literal.length;
        return literal;
      }
    }
    throw NOT_CANONICAL;
  }

  skipWhitespace(): void {
    const text = this.text;
    let position = this.position;
    for (;;) {
      const code = text.charCodeAt(position);
      if (code !== 0x20 && code !== 0x0a && code !== 0x0d && code !== 0x09) break;
      position++;
    }
    this.position = position;
  }

  private object(depth: number): string {
    if (depth > MAX_DEPTH) throw NOT_CANONICAL;
    this.position++;
    this.skipWhitespace();
    if (this.text.charCodeAt(this.position) === 0x7d /* } */) {
      this.position++;
      return "{}";
    }
    const members: Member[] = [];
    for (;;) {
      this.skipWhitespace();
      if (this.text.charCodeAt(this.position) !== QUOTE) throw NOT_CANONICAL;
      const key = this.string();
      const keyText = this.quoted(key);
      this.skipWhitespace();
      if (this.text.charCodeAt(this.position) !== 0x3a /* : */) throw NOT_CANONICAL;
      this.position++;
      members.push([key, `${keyText}:${this.value(depth)}`]);
      if (this.endOfList(0x7d /* } */)) break;
    }
    if (members.length === 1) return `{${members[0]![1]}}`;
    sortByKey(members, memberKey);
    let out = `{${members[0]![1]}`;
    for (let i = 1; i < members.length; i++) {
      if (members[i]![0] === members[i - 1]![0]) throw NOT_CANONICAL;
      out += `,${members[i]![1]}`;
    }
    return `${out}}`;
  }

  private array(depth: number): string {
    if (depth > MAX_DEPTH) throw NOT_CANONICAL;
    this.position++;
    this.skipWhitespace();
    if (this.text.charCodeAt(this.position) === 0x5d /* ] */) {
      this.position++;
      return "[]";
    }
    let out = "[";
    for (let first = true; ; first = false) {
      out += first ? this.value(depth) : `,${this.value(depth)}`;
      if (this.endOfList(0x5d /* ] */)) break;
    }
    return `${out}]`;
  }

  /** After a member: true at the closing bracket, false after a comma (another member follows). */
  private endOfList(close: number): boolean {
    this.skipWhitespace();
    const code = this.text.charCodeAt(this.position++);
    if (code === close) return true;
    if (code === 0x2c /* , */) return false;
    throw NOT_CANONICAL;
  }

  /** A number as written, once it is checked against JSON's grammar. */
  private number(): string {
    const text = this.text;
    const start = this.position;
    let position = start;
    if (text.charCodeAt(position) === 0x2d) position++;
    if (text.charCodeAt(position) === 0x30) position++;
    else position = this.digits(position);
    if (text.charCodeAt(position) === 0x2e /* . */) position = this.digits(position + 1);
    const code = text.charCodeAt(position);
    if (code === 0x65 || code === 0x45 /* e E */) {
      position++;
      const sign = text.charCodeAt(position);
      if (sign === 0x2b || sign === 0x2d) position++;
      position = this.digits(position);
    }
    this.position = position;
    return text.slice(start, position);
  }

  /** Past one or more digits from `position`. */
  private digits(position: number): number {
    const start = position;
    for (;;) {
      const code = this.text.charCodeAt(position);
      // Written so that NaN (past the end of the text) stops it too.
      if (!(code >= 0x30 && code <= 0x39)) break;
      position++;
    }
    if (position === start) throw NOT_CANONICAL;
    return position;
  }

  /** A string's value, from the opening quote to past the closing one. */
  private string(): string {
    const text = this.text;
    const start = ++this.position;
    let position = start;
    for (;;) {
      const code = text.charCodeAt(position);
      if (code === QUOTE) {
        this.position = position + 1;
        this.escaped = false;
        return text.slice(start, position);
      }
      if (code === BACKSLASH) break;
      if (code < 0x20 || Number.isNaN(code)) throw NOT_CANONICAL; // a raw control character, or no closing quote
      position++;
    }
    this.position = position;
    this.escaped = true;
    return text.slice(start, position) + this.escapedRest();
  }

  /** The rest of a string that has an escape: each escape resolved, every surrogate escape paired. */
  private escapedRest(): string {
    const text = this.text;
    let out = "";
    let position = this.position;
    for (;;) {
      const code = text.charCodeAt(position);
      if (code === QUOTE) break;
      if (code < 0x20 || Number.isNaN(code)) throw NOT_CANONICAL;
      if (code !== BACKSLASH) {
        out += text[position];
        position++;
        continue;
      }
      const escaped = text.charCodeAt(position + 1);
      if (escaped !== 0x75 /* u */) {
        const resolved = ESCAPED[escaped];
        if (resolved === undefined) throw NOT_CANONICAL;
        out += resolved;
        position += 2;
        continue;
      }
      const unit = this.hex(position + 2);
      position += 6;
      if (unit >= 0xdc00 && unit <= 0xdfff) throw NOT_CANONICAL; // a low surrogate with no high one before it
      if (unit >= 0xd800 && unit <= 0xdbff) {
        // A high surrogate must be followed at once by an escaped low one; a decoder would replace it otherwise.
        if (text.charCodeAt(position) !== BACKSLASH || text.charCodeAt(position + 1) !== 0x75) throw NOT_CANONICAL;
        const low = this.hex(position + 2);
        if (low < 0xdc00 || low > 0xdfff) throw NOT_CANONICAL;
        out += String.fromCharCode(unit, low);
        position += 6;
        continue;
      }
      out += String.fromCharCode(unit);
    }
    this.position = position + 1;
    return out;
  }

  private hex(position: number): number {
    let unit = 0;
    for (let i = position; i < position + 4; i++) {
      const code = this.text.charCodeAt(i);
      const digit =
        code >= 0x30 && code <= 0x39
          ? code - 0x30
          : code >= 0x61 && code <= 0x66
            ? code - 0x57
            : code >= 0x41 && code <= 0x46
              ? code - 0x37
              : -1;
      if (digit < 0) throw NOT_CANONICAL;
      unit = unit * 16 + digit;
    }
    return unit;
  }

  /**
   * The string as `JSON.stringify` writes it. One read without an escape is already that: it holds no quote,
   * backslash or control character, and (being valid UTF-8) no lone surrogate.
   */
  private quoted(value: string): string {
    return this.escaped ? JSON.stringify(value) : `"${value}"`;
  }
}
