import { hashParts } from "./hash.js";

/**
 * A deterministic key for a downstream call (a payment provider's own Idempotency-Key, an email's Message-ID), derived
 * from (scope, key, label): the same on every retry of the request, different per label and per tenant.
 *
 * @example
 * await stripe.charges.create(args, { idempotencyKey: deriveKey({ scope: account, key }, "charge") });
 */
export function deriveKey(origin: { scope?: string; key: string }, label: string): string {
  if (typeof label !== "string" || label.length === 0) throw new TypeError("Expected `label` to be a non-empty string");
  return hashParts(["oncely:derive:v1", origin.scope ?? "", origin.key, label]);
}
