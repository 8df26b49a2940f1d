import { type Attempt, type EngineState, emitFor, timed } from "./engine-state.js";
import type { IdempotencyEvent } from "./events.js";
import type { ClaimHolder } from "./held-claim.js";
import type { ResolvedRouteOptions } from "./options.js";
import type { StoredResponse, StoreTransaction, TransactionalClaimResult, TransactionalStore } from "./store.js";

// Only transactional routes load this module: the core bundle does not carry it.

/**
 * Claims inside a new transaction. With `onInFlight: "wait"` the store itself waits (up to the deadline) for a
 * transaction holding the id to end. A transaction opened after we stopped waiting for it is rolled back.
 */
export function claimInTransaction(
  state: EngineState,
  attempt: Attempt,
  options: ResolvedRouteOptions,
  deadline: number,
): Promise<TransactionalClaimResult> {
  const store = state.store as TransactionalStore;
  const wait = options.onInFlight === "wait" ? Math.max(0, Math.floor(deadline - performance.now())) : 0;
  const claimOptions = { lease: options.lease, ttl: options.ttl, meta: attempt.meta, wait };
  return timed(
    state,
    attempt,
    "claim",
    () => store.claimInTransaction(attempt.id, attempt.fingerprint, claimOptions),
    wait,
    (late) => {
      if (late.status === "claimed") void late.transaction.rollback();
    },
  );
}

/**
 * A claim held inside a store transaction. Nobody else can see or take over the claim before it commits (the store
 * holds a lock, and a crash rolls everything back), so unlike a plain claim there is no lease to renew.
 */
export class HeldTransaction implements ClaimHolder {
  #controller?: AbortController;
  #settled = false;

  constructor(
    readonly state: EngineState,
    readonly attempt: Attempt,
    readonly token: number,
    readonly options: ResolvedRouteOptions,
    readonly store: StoreTransaction,
  ) {}

  get transaction(): unknown {
    return this.store.client;
  }

  /** Never aborts: an open transaction's claim cannot be taken over. */
  get signal(): AbortSignal {
    this.#controller ??= new AbortController();
    return this.#controller.signal;
  }

  /**
   * Stores the outcome and commits it with the handler's writes. When the commit fails, nothing the handler wrote
   * is kept: emits `store-error` and rethrows the `StoreError`, so the caller answers 503 and the client retries.
   */
  async complete(response: StoredResponse): Promise<StoredResponse | undefined> {
    if (this.#settled) return undefined;
    this.#settled = true;
    const { state, attempt } = this;
    try {
      const sealed = state.cipher ? await state.cipher.seal(attempt.id, response) : response;
      await timed(state, attempt, "commit", () => this.store.commit(sealed, this.options.ttl));
    } catch (error) {
      emitFor(state, attempt, "store-error", {
        reason: "the transaction did not commit; the handler's writes were rolled back",
        status: response.status,
        error,
      });
      throw error;
    }
    return response;
  }

  /** Rolls the transaction back: the claim and the handler's writes are undone, and a retry runs again. */
  async release(reason: string, extra?: Partial<IdempotencyEvent>): Promise<void> {
    if (this.#settled) return;
    this.#settled = true;
    await this.store.rollback();
    emitFor(this.state, this.attempt, "released", {
      reason: `${reason}; the transaction was rolled back`,
      token: this.token,
      ...extra,
    });
  }
}
