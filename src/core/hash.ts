import { nodeBuiltin } from "./node-builtins.js";
import { sha256 } from "./sha256.js";

const encoder = new TextEncoder();
/** Node's native UTF-8 length where there is one: bodies can be large, and this runs on every request. */
const byteLength: (text: string) => number = nodeBuiltin("node:buffer")?.Buffer.byteLength ?? utf8Length;

/** SHA-256 of the parts, each length-prefixed so that ("ab","c") and ("a","bc") differ. */
export function hashParts(parts: readonly (string | Uint8Array)[]): string {
  // One input hashed at once: a streaming hash object per call costs several times more on this hot path.
  let text = "";
  for (const part of parts) {
    if (typeof part !== "string") return sha256(framed(parts));
    text += `${byteLength(part)}:${part}`;
  }
  return sha256(text);
}

/** Inputs with bytes up to this size are framed in one array kept for it (hashing is synchronous), not a new one. */
const SCRATCH_BYTES = 4096;
const scratch = new Uint8Array(SCRATCH_BYTES);
type Utf8Write = (this: Uint8Array, text: string, offset: number, length: number) => number;
const nodeUtf8Write = (nodeBuiltin("node:buffer")?.Buffer.prototype as { utf8Write?: Utf8Write } | undefined)
  ?.utf8Write;

/** The parts framed as `hashParts` hashes them, as bytes. */
function framed(parts: readonly (string | Uint8Array)[]): Uint8Array {
  let length = 0;
  for (const part of parts) {
    const size = typeof part === "string" ? byteLength(part) : part.byteLength;
    length += `${size}`.length + 1 + size;
  }
  const out = length <= SCRATCH_BYTES ? scratch.subarray(0, length) : new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    if (typeof part === "string") at += writeUtf8(out, `${byteLength(part)}:${part}`, at);
    else {
      at += writeUtf8(out, `${part.byteLength}:`, at);
      out.set(part, at);
      at += part.byteLength;
    }
  }
  return out;
}

/** Writes `text` as UTF-8 into `bytes` at `offset` (room assumed); returns the bytes written. */
function writeUtf8(bytes: Uint8Array, text: string, offset: number): number {
  return nodeUtf8Write
    ? nodeUtf8Write.call(bytes, text, offset, bytes.length - offset)
    : encoder.encodeInto(text, bytes.subarray(offset)).written;
}

/** The UTF-8 length of a string, without encoding it (as `TextEncoder` would: a lone surrogate becomes U+FFFD). */
export function utf8Length(text: string): number {
  let length = text.length;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) continue;
    if (code < 0x800) length += 1;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        length += 2; // a surrogate pair: 2 UTF-16 units, 4 UTF-8 bytes
        i += 1;
      } else length += 2; // a lone surrogate: encoded as U+FFFD, 3 bytes
    } else length += 2;
  }
  return length;
}
