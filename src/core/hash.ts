import { concat } from "./bytes.js";
import { nodeBuiltin } from "./node-builtins.js";
import { sha256 } from "./sha256.js";

const encoder = new TextEncoder();
/** Node's native UTF-8 length where there is one: bodies can be large, and this runs on every request. */
const byteLength: (text: string) => number = nodeBuiltin("node:buffer")?.Buffer.byteLength ?? utf8Length;

/** SHA-256 of the parts, each length-prefixed so that ("ab","c") and ("a","bc") differ. */
export function hashParts(parts: readonly (string | Uint8Array)[]): string {
  // One input hashed at once: a streaming hash object per call costs several times more on this hot path.
  let text = "";
  let bytes: Uint8Array[] | undefined;
  for (const part of parts) {
    if (typeof part === "string") {
      text += `${byteLength(part)}:${part}`;
    } else {
      bytes ??= [];
      bytes.push(encoder.encode(`${text}${part.byteLength}:`), part);
      text = "";
    }
  }
  if (!bytes) return sha256(text);
  bytes.push(encoder.encode(text));
  return sha256(concat(bytes));
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
