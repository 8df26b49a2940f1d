import { createHash } from "node:crypto";

/** SHA-256 of the parts, each length-prefixed so that ("ab","c") and ("a","bc") differ. */
export function hashParts(parts: readonly (string | Uint8Array)[]): string {
  const hash = createHash("sha256");
  for (const part of parts) {
    const length = typeof part === "string" ? Buffer.byteLength(part) : part.byteLength;
    hash.update(`${length}:`);
    hash.update(part);
  }
  return hash.digest("base64url");
}
