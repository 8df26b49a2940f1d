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
  throw new TypeError(
    "No secure random source here (crypto.randomUUID and crypto.getRandomValues are both missing): " +
      "pass `generateKey`, e.g. `generateKey: () => uuid.v4()`, or install react-native-get-random-values",
  );
}

/** RFC 9562 version 4 layout: 122 random bits, version and variant bits set. */
function uuidFromBytes(bytes: Uint8Array): string {
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
