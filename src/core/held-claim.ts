import { type Attempt, type EngineState, emitFor, timed } from "./engine-state.js";
import { ClaimLostError, RecordTooLargeError } from "./errors.js";
import type { IdempotencyEvent } from "./events.js";
import type { Renewable } from "./lease-renewals.js";
import type { ResolvedRouteOptions } from "./options.js";
import { notKept } from "./response.js";
import type { StoredResponse } from "./store.js";
import { storeCall } from "./store-call.js";

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
 * A claim being worked on: its lease is renewed every lease/3 until it is settled (see lease-renewals.ts), and
 * `signal` aborts when another holder has taken the claim over.
 */
export class HeldClaim implements ClaimHolder, Renewable {
  // Made on first use: most handlers never look at the signal, and an AbortController per request shows in profiles.
  #controller?: AbortController;
  readonly #interval: number;
  #settled = false;

  constructor(
    readonly state: EngineState,
    readonly attempt: Attempt,
    readonly token: number,
    readonly options: ResolvedRouteOptions,
  ) {
    this.#interval = Math.max(1, Math.floor(options.lease / 3));
    state.renewals.add(this, this.#interval);
  }

  get signal(): AbortSignal {
    this.#controller ??= new AbortController();
    return this.#controller.signal;
  }

  get transaction(): undefined {
    return undefined;
  }

  /**
   * Stores the outcome and returns what was stored, or `undefined` when the claim was lost to another holder (emits
   * `fenced`) or the store failed (emits `store-error`). A response the store refuses as too large for its items is
   * stored as not kept instead: the operation did complete, so it must never run again for this key.
   */
  async complete(response: StoredResponse): Promise<StoredResponse | undefined> {
    if (this.#settled) return undefined;
    this.#stop();
    const { state, attempt } = this;
    let stored = response;
    let held: boolean;
    try {
      try {
        held = await this.#write(stored);
      } catch (error) {
        if (!(error instanceof RecordTooLargeError) || !response.kept) throw error;
        stored = notKept(response.status);
        held = await this.#write(stored);
      }
    } catch (error) {
      emitFor(state, attempt, "store-error", { reason: "complete failed", status: response.status, error });
      return undefined;
    }
    if (!held) {
      emitFor(state, attempt, "fenced", {
        status: response.status,
        token: this.token,
        reason: "the claim was taken over before this result was stored; the result was not stored",
      });
      return undefined;
    }
    return stored;
  }

  /** Makes the key claimable again at once (the handler threw, skipped storing, or answered a status not stored). */
  async release(reason: string, extra?: Partial<IdempotencyEvent>): Promise<void> {
    if (this.#settled) return;
    this.#stop();
    const { state, attempt } = this;
    try {
      await timed(state, attempt, "release", () => state.store.release(attempt.id, this.token));
    } catch (error) {
      // The lease will lapse on its own; the key is held at most that long.
      emitFor(state, attempt, "store-error", { reason: "release failed", error });
      return;
    }
    emitFor(state, attempt, "released", { reason, token: this.token, ...extra });
  }

  // Not async: without a cipher it hands back the store call's own promise, one async frame fewer per new key.
  #write(outcome: StoredResponse): Promise<boolean> {
    const cipher = this.state.cipher;
    if (!cipher) return this.#complete(outcome);
    return cipher.seal(this.attempt.id, outcome).then((sealed) => this.#complete(sealed));
  }

  #complete(sealed: StoredResponse): Promise<boolean> {
    const { state, attempt, token } = this;
    return timed(state, attempt, "complete", () => state.store.complete(attempt.id, token, sealed, this.options.ttl));
  }

  #stop(): void {
    this.#settled = true;
    this.state.renewals.delete(this, this.#interval);
  }

  renew(): void {
    void this.#renew();
  }

  async #renew(): Promise<void> {
    const { state, attempt } = this;
    try {
      const held = await storeCall(state.store.name, "renew", state.storeTimeout, () =>
        state.store.renew(attempt.id, this.token, this.options.lease),
      );
      if (!held && !this.#settled) {
        this.#stop();
        this.#controller ??= new AbortController();
        this.#controller.abort(new ClaimLostError("Another request took over this claim", { key: attempt.key }));
      }
    } catch {
      // A failed renewal is retried at the next tick; the lease covers two more.
    }
  }
}
