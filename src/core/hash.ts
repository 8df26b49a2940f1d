import { hash } from "node:crypto";

/** SHA-256 of the parts, each length-prefixed so that ("ab","c") and ("a","bc") differ. */
export function hashParts(parts: readonly (string | Uint8Array)[]): string {
  // One-shot hashing of one input: a streaming Hash object per call costs several times more on this hot path.
  let text = "";
  let bytes: Uint8Array[] | undefined;
  for (const part of parts) {
    if (typeof part === "string") {
      text += `${Buffer.byteLength(part)}:${part}`;
    } else {
      bytes ??= [];
      bytes.push(Buffer.from(text), Buffer.from(`${part.byteLength}:`), part);
      text = "";
    }
  }
  if (!bytes) return hash("sha256", text, "base64url");
  bytes.push(Buffer.from(text));
  return hash("sha256", Buffer.concat(bytes), "base64url");
}
