import { nodeBuiltin } from "./node-builtins.js";
import { portableSha256Hex } from "./sha256.js";

/**
 * How an Idempotency-Key appears in logs and traces: the first 16 hex characters (64 bits) of its SHA-256, never the
 * key itself (a key can be personal data, such as an order number). Anyone holding the key can compute it, to find
 * the request: `printf %s "$KEY" | sha256sum | cut -c1-16`.
 *
 * @example keyHash("order-1") // "0bafe22156d2698c"
 */
export function keyHash(key: string): string {
  // Looked up here rather than at load: a call at the top of the module would stay in every bundle of the core.
  const crypto = nodeBuiltin("node:crypto");
  const hex = typeof crypto?.hash === "function" ? crypto.hash("sha256", key, "hex") : portableSha256Hex(key);
  return hex.slice(0, 16);
}
