/**
 * The names oncely's MCP support puts on the wire, shared by the server guard and the client helper. They are part of
 * the public contract (docs/mcp.md): changing one breaks every agent and server that uses it.
 */

/**
 * Where a `tools/call` carries its key: `params._meta.idempotencyKey` (the name the MCP proposal SEP-3182 gave the
 * field), or `params._meta["idempotency-key"]` (the spelling of commerce protocols' MCP bindings). Read in this order.
 */
export const KEY_META_FIELDS = ["idempotencyKey", "idempotency-key"] as const;

/** The field of a result's `_meta` that marks a replay: `true` when the server answered from its stored record. */
export const REPLAYED_META = "oncely/replayed";

/** The name under `capabilities.experimental` by which a server says it honours keys on `tools/call`. */
export const CAPABILITY = "oncely/idempotency";

/** What a server advertises under `capabilities.experimental["oncely/idempotency"]`. */
export interface IdempotencyCapability {
  /** The `_meta` fields a key is read from, in order. */
  meta: string[];
  /** The tool argument a key is also read from, when the server declared one. */
  argument?: string;
  /** The result `_meta` field that marks a replay. */
  replayed: string;
}
