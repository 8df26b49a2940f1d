import type { ClaimHolder } from "./claim-holder.js";
import type { ResponseCipher } from "./encryption.js";
import {
  ClaimLostError,
  DecryptionError,
  FingerprintMismatchError,
  InFlightError,
  type OncelyError,
  RecordTooLargeError,
  ResponseNotKeptError,
  StoreError,
  StoreFullError,
} from "./errors.js";
import type { IdempotencyEvent, IdempotencyEventType } from "./events.js";
import type { ResolvedRouteOptions } from "./options.js";
import type { ReplayCounter } from "./replay-counter.js";
import type {
  ClaimResult,
  IdempotencyRecord,
  RecordMeta,
  StepRecord,
  Store,
  StoredResponse,
  StoredWork,
  StoreTransaction,
  TransactionalClaimResult,
  TransactionalStore,
} from "./store.js";
import { storeCall } from "./store-call.js";

/** What every decision needs to know about the engine it runs in. */
export interface EngineState {
  store: Store;
  storeTimeout: number;
  /** Seals responses before they are stored and opens them for replay, when `encryption` is configured. */
  cipher?: ResponseCipher;
  /** Absent without an `onEvent` listener, so no event object is built for nobody. */
  emit?: (event: IdempotencyEvent) => void;
  /** Counts replays for the store, where it keeps counts. */
  replays?: ReplayCounter;
}

/** One guarded attempt: who it is, where it is stored, and the clock it is timed against. */
export interface Attempt {
  id: string;
  key: string;
  fingerprint: string;
  route: string;
  scope?: string;
  meta: RecordMeta;
  started: number;
  storeDuration: number;
  /** The registered handler and input of a run started by name, kept with a new record. */
  work?: StoredWork;
}

export type ClaimOutcome =
  | {
      kind: "execute";
      token: number;
      recovered: boolean;
      transaction?: StoreTransaction;
      runId?: string;
      steps?: StepRecord[];
    }
  | { kind: "replay"; response: StoredResponse }
  | { kind: "refuse"; error: OncelyError }
  | { kind: "store-error"; error: StoreError };

/** The record of an operation that completed but whose response is too large to keep: only its status remains. */
export function notKept(status: number): StoredResponse {
  return { status, headers: [], body: new Uint8Array(0), kept: false };
}

/** Emits one event for an attempt, with its timings. */
export function emitFor(
  state: EngineState,
  attempt: Attempt,
  type: IdempotencyEventType,
  extra: Partial<IdempotencyEvent> = {},
): void {
  if (!state.emit) return;
  state.emit({
    type,
    route: attempt.route,
    key: attempt.key,
    ...(attempt.scope ? { scope: attempt.scope } : {}),
    duration: performance.now() - attempt.started,
    storeDuration: attempt.storeDuration,
    ...extra,
  });
}

/**
 * Runs a store operation, adding its time to the attempt's store time. `extraTime` lengthens the store timeout for
 * an operation that waits on purpose; `onLate` gets a result that arrives after the timeout.
 */
export async function timed<T>(
  state: EngineState,
  attempt: Attempt,
  operation: string,
  call: () => Promise<T>,
  { extraTime = 0, onLate }: { extraTime?: number; onLate?: (value: T) => void } = {},
) {
  const start = performance.now();
  try {
    return await storeCall(state.store.name, operation, state.storeTimeout + extraTime, call, onLate);
  } finally {
    attempt.storeDuration += performance.now() - start;
  }
}

/**
 * Claims the attempt's record, or says why not: a stored outcome to replay, a refusal (409, 410, 422), or a store
 * failure. With `onInFlight: "wait"`, polls until the holder finishes, releases, lapses, or `waitTimeout` passes.
 */
export async function acquire(
  state: EngineState,
  attempt: Attempt,
  options: ResolvedRouteOptions,
): Promise<ClaimOutcome> {
  const deadline = performance.now() + options.waitTimeout;
  let pause = 10;
  for (;;) {
    let result: ClaimResult | TransactionalClaimResult;
    try {
      result = options.transactional
        ? await claimInTransaction(state, attempt, options, deadline)
        : await timed(state, attempt, "claim", () =>
            state.store.claim(attempt.id, attempt.fingerprint, {
              lease: options.lease,
              ttl: options.ttl,
              meta: attempt.meta,
              ...(attempt.work ? { work: attempt.work } : {}),
            }),
          );
    } catch (error) {
      return storeFailure(error);
    }
    if (result.status === "claimed") {
      const { transaction } = result as { transaction?: StoreTransaction };
      if (transaction) return { kind: "execute", token: result.token, recovered: result.recovered, transaction };
      return {
        kind: "execute",
        token: result.token,
        recovered: result.recovered,
        runId: result.runId,
        steps: result.steps,
      };
    }
    const record = result.record;
    if (record && record.fingerprint !== attempt.fingerprint) return refuse(mismatch(attempt));
    if (result.status === "completed") return completed(state, attempt, result.record);
    if (options.onInFlight === "reject" || performance.now() + pause > deadline) return refuse(inFlight(attempt));
    // Polling with claim (not get) lets a waiter take over a holder that released or lapsed, judged by the store's clock.
    await new Promise((resolve) => setTimeout(resolve, pause));
    pause = Math.min(pause * 1.5, 200);
  }
}

/**
 * Claims inside a new transaction. With `onInFlight: "wait"` the store itself waits (up to the deadline) for a
 * transaction holding the id to end. A transaction opened after we stopped waiting for it is rolled back.
 */
function claimInTransaction(
  state: EngineState,
  attempt: Attempt,
  options: ResolvedRouteOptions,
  deadline: number,
): Promise<TransactionalClaimResult> {
  const store = state.store as TransactionalStore;
  const wait = options.onInFlight === "wait" ? Math.max(0, Math.floor(deadline - performance.now())) : 0;
  const claimOptions = { lease: options.lease, ttl: options.ttl, meta: attempt.meta, wait };
  return timed(state, attempt, "claim", () => store.claimInTransaction(attempt.id, attempt.fingerprint, claimOptions), {
    extraTime: wait,
    onLate: (late) => {
      if (late.status === "claimed") void late.transaction.rollback();
    },
  });
}

/**
 * The event for a refusal: 410 is a replay of an operation whose response was not kept, 503 a full store, 500 a record
 * that will not decrypt.
 */
export function eventFor(status: number): IdempotencyEventType {
  if (status === 503) return "store-full";
  return status === 422 ? "mismatch" : status === 409 ? "conflict" : status === 410 ? "replayed" : "store-error";
}

function completed(
  state: EngineState,
  attempt: Attempt,
  record: IdempotencyRecord,
): ClaimOutcome | Promise<ClaimOutcome> {
  const response = record.response;
  if (!response?.kept) {
    return refuse(
      new ResponseNotKeptError(
        "The operation completed, but its response was larger than maxResponseBytes and was not kept; it will not run again",
        { key: attempt.key, route: attempt.route },
      ),
    );
  }
  if (!state.cipher) return { kind: "replay", response };
  return state.cipher.open(attempt.id, response).then(
    (opened): ClaimOutcome => ({ kind: "replay", response: opened }),
    (error: unknown) => {
      if (error instanceof DecryptionError) return refuse(error);
      throw error;
    },
  );
}

function mismatch(attempt: Attempt): OncelyError {
  return new FingerprintMismatchError(
    "This Idempotency-Key was already used with a different method, path, query or body; use a new key for a new request",
    { key: attempt.key, route: attempt.route },
  );
}

function inFlight(attempt: Attempt): OncelyError {
  return new InFlightError("A request with this Idempotency-Key is still being processed; retry shortly", {
    key: attempt.key,
    route: attempt.route,
    retryAfter: 1,
  });
}

function refuse(error: OncelyError): ClaimOutcome {
  return { kind: "refuse", error };
}

function storeFailure(error: unknown): ClaimOutcome {
  // A full store works and refuses new keys on purpose: a refusal, so `failOpen` never runs the handler unguarded.
  if (error instanceof StoreFullError) return refuse(error);
  if (error instanceof StoreError) return { kind: "store-error", error };
  throw error;
}

/**
 * A claim being worked on: renews its lease every lease/3 until settled, and aborts `signal` when another holder
 * has taken the claim over.
 */
export class HeldClaim implements ClaimHolder {
  // Made on first use: most handlers never look at the signal, and an AbortController per request shows in profiles.
  #controller?: AbortController;
  readonly #timer: ReturnType<typeof setInterval>;
  #settled = false;

  constructor(
    readonly state: EngineState,
    readonly attempt: Attempt,
    readonly token: number,
    readonly options: ResolvedRouteOptions,
  ) {
    this.#timer = setInterval(() => void this.#renew(), Math.max(1, Math.floor(options.lease / 3)));
    this.#timer.unref?.();
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
    const write = async (outcome: StoredResponse) => {
      const sealed = state.cipher ? await state.cipher.seal(attempt.id, outcome) : outcome;
      return timed(state, attempt, "complete", () =>
        state.store.complete(attempt.id, this.token, sealed, this.options.ttl),
      );
    };
    let stored = response;
    let held: boolean;
    try {
      try {
        held = await write(stored);
      } catch (error) {
        if (!(error instanceof RecordTooLargeError) || !response.kept) throw error;
        stored = notKept(response.status);
        held = await write(stored);
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
  async release(reason: string, extra: Partial<IdempotencyEvent> = {}): Promise<void> {
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

  #stop(): void {
    this.#settled = true;
    clearInterval(this.#timer);
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
