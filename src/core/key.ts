import { InvalidKeyError } from "./errors.js";

/** Visible ASCII, 0x21-0x7E: what an unquoted key may contain (UUIDs, `stripe-node-retry-<uuid>`, ...). */
const VISIBLE_ASCII = /^[\x21-\x7e]+$/;
/** An RFC 9651 sf-string: printable ASCII with `\"` and `\\` as the only escapes. */
const SF_STRING = /^"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"$/;

/**
 * Reads an `Idempotency-Key` header value. Returns `undefined` when the header is absent.
 * A repeated header (an array, or values joined with ", " by Node or fetch) is accepted only when every copy is equal.
 * @throws {InvalidKeyError} when the value is empty, too long, malformed, or repeated with different values.
 */
export function parseIdempotencyKey(
  value: string | readonly string[] | undefined,
  maxLength = 255,
): string | undefined {
  if (value === undefined) return undefined;
  // The common case, one plain key (no space, so not a joined repeat), without splitting or allocating.
  if (typeof value === "string" && value.length <= maxLength && value[0] !== '"' && VISIBLE_ASCII.test(value)) {
    return value;
  }
  return parseRepeated(value, maxLength);
}

function parseRepeated(value: string | readonly string[], maxLength: number): string {
  // A valid key never contains a space, so ", " can only be the separator between repeated headers.
  const copies = (typeof value === "string" ? [value] : value).flatMap((v) => v.split(", "));
  const keys = copies.map((copy) => parseOne(copy.trim(), maxLength));
  const first = keys[0];
  if (first === undefined || keys.some((k) => k !== first)) {
    throw new InvalidKeyError("Idempotency-Key was sent more than once with different values");
  }
  return first;
}

function parseOne(raw: string, maxLength: number): string {
  let key = raw;
  if (raw.startsWith('"')) {
    const match = SF_STRING.exec(raw);
    if (!match)
      throw new InvalidKeyError("Idempotency-Key starts with a quote but is not a valid structured-field string");
    key = match[1]!.replace(/\\(["\\])/g, "$1");
  }
  if (key.length === 0) throw new InvalidKeyError("Idempotency-Key is empty");
  if (key.length > maxLength) {
    throw new InvalidKeyError(`Idempotency-Key is ${key.length} characters; the limit is ${maxLength}`);
  }
  if (!VISIBLE_ASCII.test(key)) {
    throw new InvalidKeyError("Idempotency-Key may contain only visible ASCII characters (0x21-0x7E)");
  }
  return key;
}
