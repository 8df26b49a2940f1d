// Web APIs (btoa, atob, TextEncoder), not Buffer: the Durable Object and Upstash stores run on Workers and Vercel's
// edge without Node.js modules.

/** Bytes turned into one string at a time: `String.fromCharCode` takes them as arguments. */
const CHUNK = 0x8000;

/** The bytes as base64 (with padding). */
export function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += CHUNK) {
    binary += String.fromCharCode(...bytes.subarray(i, i + CHUNK));
  }
  return btoa(binary);
}

/** @throws when `text` is not base64 (atob refuses it). */
export function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** A string's UTF-8 bytes as base64url without padding: an opaque cursor that survives a URL's query. */
export function toBase64Url(text: string): string {
  return toBase64(new TextEncoder().encode(text)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** @throws when `text` is not base64url of UTF-8 text. */
export function fromBase64Url(text: string): string {
  const bytes = fromBase64(text.replace(/-/g, "+").replace(/_/g, "/"));
  return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
}
