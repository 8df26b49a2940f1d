import { acquire, type ClaimOutcome } from "./claim.js";
import type { IdempotencyContext, Step, StepInfo, TransactionClient } from "./context.js";
import { type Attempt, type EngineState, emitFor } from "./engine-state.js";
import type { OncelyError, StoreError } from "./errors.js";
import type { IdempotencyEvent, IdempotencyEventType } from "./events.js";
import { type ClaimHolder, HeldClaim } from "./held-claim.js";
import type { ResolvedRouteOptions } from "./options.js";
import type { StoredResponse } from "./store.js";

/**
 * The claim lifecycle, shared by the HTTP guard, `idem.run` and `recover()`: claim the record, hold the claim (a
 * renewed lease, or a store transaction), give the handler its context, then store the outcome or release the claim.
 */

/** What opening an attempt came to: a claim to run the handler under, or an answer from the record without it. */
export type Opened =
  | { kind: "execute"; claim: OpenClaim }
  | { kind: "replay"; response: StoredResponse; expiresAt: number }
  /** A stream in flight under `token`: the caller follows it (`stream-follower.ts`), and emits the event. */
  | { kind: "join"; token: number }
  | { kind: "refuse"; error: OncelyError }
  | { kind: "store-error"; error: StoreError };

/** A claimed attempt: the context its handler sees, and the two ways it ends. */
export interface OpenClaim {
  readonly context: IdempotencyContext;
  /** True once the handler called `context.skipStore()`. */
  readonly skipped: boolean;
  /**
   * Stores the handler's outcome and emits `executed`, or releases the claim when the handler called `skipStore()`.
   * Resolves to what was stored, or `undefined` when nothing was (released, fenced out, or the store failed: the
   * events say which).
   * @throws {StoreError} when the outcome was undone rather than stored (a transaction that did not commit)
   */
  finish(response: StoredResponse): Promise<StoredResponse | undefined>;
  /** Makes the key claimable again at once: the handler failed, or its outcome is not one to store. */
  release(reason: string, extra?: Partial<IdempotencyEvent>): Promise<void>;
}

/**
 * Claims the attempt's record and, when the claim is won, holds it and builds the handler's context. Emits the
 * decision of an attempt answered from its record (`replayed`, a refusal, `store-error`) and `recovered`.
 * `deriveKey` is the context's: the caller knows the scope (records keep only its hash). Answers in the caller's turn
 * when the store claimed in it (`claim-now.ts`) and the claim needs no transaction.
 */
export function openAttempt(
  state: EngineState,
  options: ResolvedRouteOptions,
  attempt: Attempt,
  deriveKey: (label: string) => string,
): Opened | Promise<Opened> {
  const outcome = acquire(state, attempt, options);
  return outcome instanceof Promise
    ? outcome.then((settled) => opened(state, options, attempt, deriveKey, settled))
    : opened(state, options, attempt, deriveKey, outcome);
}

function opened(
  state: EngineState,
  options: ResolvedRouteOptions,
  attempt: Attempt,
  deriveKey: (label: string) => string,
  outcome: ClaimOutcome,
): Opened | Promise<Opened> {
  switch (outcome.kind) {
    case "replay":
      state.replays?.add(attempt.id);
      emitFor(state, attempt, "replayed", { status: outcome.response.status });
      return outcome;
    case "join":
      return outcome;
    case "refuse":
      emitFor(state, attempt, refusalEvent(outcome.error.status), {
        status: outcome.error.status,
        reason: outcome.error.code,
      });
      return outcome;
    case "store-error":
      emitFor(state, attempt, "store-error", { reason: outcome.error.message, error: outcome.error });
      return outcome;
  }
  if (outcome.recovered) emitFor(state, attempt, "recovered", { token: outcome.token });
  if (outcome.transaction) {
    return holdTransaction(state, attempt, outcome, options).then(
      (holder): Opened => ({ kind: "execute", claim: new Claimed(state, attempt, outcome, holder, deriveKey) }),
    );
  }
  const holder = new HeldClaim(state, attempt, outcome.token, options);
  return { kind: "execute", claim: new Claimed(state, attempt, outcome, holder, deriveKey) };
}

/**
 * The event for a refusal: 410 is a replay of an operation whose response was not kept, 503 a full store, 500 a record
 * that will not decrypt.
 */
function refusalEvent(status: number): IdempotencyEventType {
  if (status === 503) return "store-full";
  return status === 422 ? "mismatch" : status === 409 ? "conflict" : status === 410 ? "replayed" : "store-error";
}

/** The holder of a claim made in a transaction. */
async function holdTransaction(
  state: EngineState,
  attempt: Attempt,
  outcome: Extract<ClaimOutcome, { kind: "execute" }>,
  options: ResolvedRouteOptions,
): Promise<ClaimHolder> {
  const { HeldTransaction } = await import("./transaction.js");
  return new HeldTransaction(state, attempt, outcome.token, options, outcome.transaction!);
}

/**
 * A claimed attempt. It and the handler's context are class instances, their accessors on the prototype: getters
 * written in an object literal are allocated per object, in V8's old generation, and each kept its request's objects
 * (the framework's request among them) alive past the young generation until a full GC: 6.7 KB promoted per request
 * on Hono, 0.6 KB with classes.
 */
class Claimed implements OpenClaim {
  readonly context: IdempotencyContext;
  skipped = false;
  #step: Step | undefined;

  constructor(
    readonly state: EngineState,
    readonly attempt: Attempt,
    readonly outcome: Extract<ClaimOutcome, { kind: "execute" }>,
    readonly holder: ClaimHolder,
    deriveKey: (label: string) => string,
  ) {
    this.context = new HandlerContext(this, deriveKey);
  }

  /** The context's `step`, made on first use. */
  get step(): Step {
    this.#step ??= deferredStep(this.state, this.attempt, this.outcome, this.holder);
    return this.#step;
  }

  async finish(response: StoredResponse): Promise<StoredResponse | undefined> {
    const { state, attempt, holder } = this;
    if (this.skipped) {
      await holder.release("skipStore() was called", { status: response.status });
      return undefined;
    }
    const stored = await holder.complete(response);
    if (stored) {
      const event: Partial<IdempotencyEvent> = { status: response.status, token: this.outcome.token };
      if (!stored.kept) event.reason = "the response was too large to keep; retries get response_not_kept";
      emitFor(state, attempt, "executed", event);
    }
    return stored;
  }

  release(reason: string, extra?: Partial<IdempotencyEvent>): Promise<void> {
    return this.holder.release(reason, extra);
  }
}

/** What the handler sees; `skipStore` and `deriveKey` work detached from it (`const { skipStore } = context`). */
class HandlerContext implements IdempotencyContext {
  readonly key: string;
  readonly scope: string | undefined;
  readonly recovered: boolean;
  readonly token: number;
  readonly transaction: TransactionClient | undefined;
  readonly skipStore: () => void;
  readonly deriveKey: (label: string) => string;
  readonly #claim: Claimed;

  constructor(claim: Claimed, deriveKey: (label: string) => string) {
    this.#claim = claim;
    this.key = claim.attempt.key;
    this.scope = claim.attempt.scope;
    this.recovered = claim.outcome.recovered;
    this.token = claim.outcome.token;
    this.transaction = claim.holder.transaction as TransactionClient | undefined;
    this.skipStore = () => {
      claim.skipped = true;
    };
    this.deriveKey = deriveKey;
  }

  get signal(): AbortSignal {
    return this.#claim.holder.signal;
  }

  get step(): Step {
    return this.#claim.step;
  }
}

/**
 * The `step` of a claimed attempt. Its implementation is loaded by its first call (most handlers never take a step);
 * calls keep their order, as each awaits the same load. The run id and recorded steps come from the claim.
 */
function deferredStep(
  state: EngineState,
  attempt: Attempt,
  outcome: Extract<ClaimOutcome, { kind: "execute" }>,
  holder: ClaimHolder,
): Step {
  let loading: Promise<Step> | undefined;
  const made = () =>
    (loading ??= import("./step-runner.js").then(({ createStep }) =>
      createStep(state, attempt, {
        token: outcome.token,
        runId: outcome.runId,
        recorded: outcome.steps,
        signal: holder.signal,
        transactional: outcome.transaction !== undefined,
      }),
    ));
  const step = async <T>(name: string, fn: (step: StepInfo) => T | Promise<T>): Promise<T> => (await made())(name, fn);
  step.local = async <T>(name: string, fn: (transaction: TransactionClient, step: StepInfo) => T | Promise<T>) =>
    (await made()).local<T>(name, fn);
  return step;
}
