/** Makes a fresh Idempotency-Key. */
export type KeyGenerator = () => string;

/**
 * The default key: `crypto.randomUUID()`, or where that is missing (pages served over plain HTTP, where only
 * `crypto.getRandomValues` exists) a version 4 UUID built from `getRandomValues`. Where neither exists (React Native
 * without a polyfill) it throws, naming the `generateKey` option: a key from `Math.random` could repeat, and a
 * repeated key replays someone else's answer.
 *
 * @example
 * randomKey(); // "3b241101-e2bb-4255-8caf-4136c566a962"
 */
export function randomKey(): string {
  const crypto = (globalThis as { crypto?: Partial<Crypto> }).crypto;
  if (typeof crypto?.randomUUID === "function") return crypto.randomUUID();
  if (typeof crypto?.getRandomValues === "function") return uuidFromBytes(crypto.getRandomValues(new Uint8Array(16)));
  throw new TypeError("No crypto.getRandomValues here: pass `generateKey`, or polyfill it");
}

/** RFC 9562 version 4 layout: 122 random bits, version and variant bits set, hex in 8-4-4-4-12 groups. */
function uuidFromBytes(bytes: Uint8Array): string {
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
  return hex.replace(/^(.{8})(.{4})(.{4})(.{4})/, "$1-$2-$3-$4-");
}
