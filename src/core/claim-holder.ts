import { type Attempt, type ClaimOutcome, type EngineState, HeldClaim } from "./claim-flow.js";
import type { IdempotencyEvent } from "./events.js";
import type { ResolvedRouteOptions } from "./options.js";
import type { StoredResponse } from "./store.js";

/** The claim a handler runs under: a lease renewed in the background, or a store transaction. */
export interface ClaimHolder {
  /** Aborts when another holder has taken the claim over. */
  readonly signal: AbortSignal;
  /** The store transaction's client, on transactional routes. */
  readonly transaction: unknown;
  /**
   * Stores the outcome; returns what was stored, or `undefined` when it could not be (fenced out, or the store
   * failed after the effects were done). Rejects with a `StoreError` only when the effects were undone with it
   * (a transaction that did not commit).
   */
  complete(response: StoredResponse): Promise<StoredResponse | undefined>;
  /** Makes the key claimable again at once. */
  release(reason: string, extra?: Partial<IdempotencyEvent>): Promise<void>;
}

/**
 * The holder of a claim just made. A plain claim's comes at once; a transaction's after its code is loaded (only
 * transactional routes need it, so the core bundle does not carry it).
 */
export function holdClaim(
  state: EngineState,
  attempt: Attempt,
  outcome: Extract<ClaimOutcome, { kind: "execute" }>,
  options: ResolvedRouteOptions,
): ClaimHolder | Promise<ClaimHolder> {
  const { transaction, token } = outcome;
  if (!transaction) return new HeldClaim(state, attempt, token, options);
  return import("./held-transaction.js").then(
    ({ HeldTransaction }) => new HeldTransaction(state, attempt, token, options, transaction),
  );
}
