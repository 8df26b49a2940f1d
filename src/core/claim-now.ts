import type { ClaimedResult, ClaimOptions, IdempotencyRecord, Store } from "./store.js";

/**
 * The method by which a store whose records live in this process answers a claim in the caller's own turn, where
 * `claim` answers with a promise. The engine then decides a replay, a refusal or a won claim without the chain of
 * promises between it and the store (each `await` is a turn of the microtask queue and an object for the collector),
 * and without the store timeout's bookkeeping, which a call that cannot wait on anything does not need. That chain
 * was the larger part of what a replayed `idem.run` spent in oncely on the memory store.
 *
 * A symbol, so that it is no part of the public store contract: a store outside this package implements `claim`. The
 * engine takes this way only when the store's `claim` is the very method marked as answered by it (`answeredNow`):
 * a subclass that overrides `claim`, a Proxy that wraps it, a fault injector, a test's spy or the OpenTelemetry
 * wrapper replace the method and see every claim the engine makes, as they would without this.
 */
export const claimNow: unique symbol = Symbol("oncely.claimNow");

/** What the engine decides by when a claim finds a record another request made. */
export type FoundRecord = Pick<IdempotencyRecord, "fingerprint" | "token" | "expiresAt" | "response">;

/**
 * What `[claimNow]` answers: `claim`'s result, where a record found carries only what the engine decides by (the rest
 * of a record, its metadata and steps, costs a replay its decoding and the collector its objects).
 */
export type ClaimAnswer = ClaimedResult | { status: "in-flight" | "completed"; record: FoundRecord };

/** A store with `claimNow`: `claim`'s contract, answered synchronously. */
export interface ClaimsNow {
  [claimNow](id: string, fingerprint: string, options: ClaimOptions): ClaimAnswer;
}

/**
 * Marks a store class's `claim` as one that only returns what its `[claimNow]` answers. The mark is the method itself:
 * a wrapper that copies the method's own properties onto itself (`vi.spyOn` does, to look like what it wraps) copies
 * the mark too, and a mark of `true` would then have the engine go around the wrapper.
 */
export function answeredNow(claim: Store["claim"]): void {
  Object.defineProperty(claim, claimNow, { value: claim });
}

/** Whether the engine may claim on `store` with `[claimNow]`: its `claim` is still the very method marked. */
export function claimsNow(store: Store): store is Store & ClaimsNow {
  const claim = store.claim as Store["claim"] & { [claimNow]?: unknown };
  return claim[claimNow] === claim;
}
