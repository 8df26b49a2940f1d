import { hash } from "node:crypto";

/**
 * How an Idempotency-Key appears in traces: the first 16 hex characters (64 bits) of its SHA-256, never the key
 * itself (a key can be personal data, such as an order number). Anyone holding the key can compute it, to find the
 * request: `printf %s "$KEY" | sha256sum | cut -c1-16`.
 *
 * @example keyHash("order-1") // "0bafe22156d2698c"
 */
export function keyHash(key: string): string {
  return hash("sha256", key, "hex").slice(0, 16);
}
