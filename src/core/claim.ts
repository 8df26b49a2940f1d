import { type ClaimAnswer, claimNow, claimsNow, type FoundRecord } from "./claim-now.js";
import { type Attempt, type EngineState, timed } from "./engine-state.js";
import {
  DecryptionError,
  FingerprintMismatchError,
  InFlightError,
  type OncelyError,
  ResponseNotKeptError,
  StoreError,
  StoreFullError,
} from "./errors.js";
import type { ResolvedRouteOptions } from "./options.js";
import type {
  ClaimOptions,
  ClaimResult,
  StepRecord,
  StoredResponse,
  StoreTransaction,
  TransactionalClaimResult,
} from "./store.js";
import { asStoreError } from "./store-call.js";

/** What claiming an attempt's record came to. */
export type ClaimOutcome =
  | {
      kind: "execute";
      token: number;
      recovered: boolean;
      transaction?: StoreTransaction;
      runId?: string;
      steps?: StepRecord[];
    }
  | { kind: "replay"; response: StoredResponse; expiresAt: number }
  /** A stream in flight under `token`, to follow (`onInFlight: "join"`). */
  | { kind: "join"; token: number }
  | { kind: "refuse"; error: OncelyError }
  | { kind: "store-error"; error: StoreError };

/**
 * Claims the attempt's record, or says why not: a stored outcome to replay, a refusal (409, 410, 422), or a store
 * failure. With `onInFlight: "wait"`, polls until the holder finishes, releases, lapses, or `waitTimeout` passes;
 * with `"join"`, answers the run in flight to follow. A store that claims synchronously (`claim-now.ts`) is answered
 * in the caller's turn, unless the attempt has to wait.
 */
export function acquire(
  state: EngineState,
  attempt: Attempt,
  options: ResolvedRouteOptions,
): ClaimOutcome | Promise<ClaimOutcome> {
  const claimOptions: ClaimOptions = { lease: options.lease, ttl: options.ttl, meta: attempt.meta };
  if (attempt.work) claimOptions.work = attempt.work;
  const { store } = state;
  if (options.transactional || !claimsNow(store)) return poll(state, attempt, options, claimOptions, false);
  const start = performance.now();
  let result: ClaimAnswer;
  try {
    result = store[claimNow](attempt.id, attempt.fingerprint, claimOptions);
  } catch (error) {
    return storeFailure(asStoreError(store.name, "claim", error));
  } finally {
    attempt.storeDuration += performance.now() - start;
  }
  return decide(state, attempt, options, result) ?? poll(state, attempt, options, claimOptions, true);
}

/** Claims until the claim is decided; `claimed` says the attempt has claimed once already, and found it in flight. */
async function poll(
  state: EngineState,
  attempt: Attempt,
  options: ResolvedRouteOptions,
  claimOptions: ClaimOptions,
  claimed: boolean,
): Promise<ClaimOutcome> {
  // From the start of oncely's work on the request, which the attempt has timed already: one clock read fewer.
  const deadline = attempt.started + options.waitTimeout;
  let pause = 10;
  for (let waited = claimed; ; waited = true) {
    if (waited) {
      if (performance.now() + pause > deadline) return refuse(inFlight(attempt));
      // Polling with claim (not get) lets a waiter take over a holder that released or lapsed, judged by the store's
      // clock.
      await new Promise((resolve) => setTimeout(resolve, pause));
      pause = Math.min(pause * 1.5, 200);
    }
    let result: ClaimResult | TransactionalClaimResult;
    try {
      result = options.transactional
        ? await (await import("./transaction.js")).claimInTransaction(state, attempt, options, deadline)
        : await timed(
            state,
            attempt,
            "claim",
            () => state.store.claim(attempt.id, attempt.fingerprint, claimOptions),
            0,
            (late) => releaseLate(state, attempt, late),
          );
    } catch (error) {
      return storeFailure(error);
    }
    const outcome = decide(state, attempt, options, result);
    if (outcome !== undefined) return outcome;
  }
}

/** What a claim's result comes to; undefined when another holder runs and the attempt waits for it. */
function decide(
  state: EngineState,
  attempt: Attempt,
  options: ResolvedRouteOptions,
  result: ClaimAnswer | ClaimResult | TransactionalClaimResult,
): ClaimOutcome | Promise<ClaimOutcome> | undefined {
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
  if (options.onInFlight === "join" && record) return { kind: "join", token: record.token };
  if (options.onInFlight === "reject") return refuse(inFlight(attempt));
  return undefined;
}

/**
 * A claim granted after `storeTimeout`, when the request was already answered 503: nobody runs it, so it is released
 * at once rather than holding the key, and every retry of the request, until its lease lapses.
 */
function releaseLate(state: EngineState, attempt: Attempt, late: ClaimResult): void {
  if (late.status === "claimed") state.store.release(attempt.id, late.token).catch(() => undefined);
}

function completed(state: EngineState, attempt: Attempt, record: FoundRecord): ClaimOutcome | Promise<ClaimOutcome> {
  const response = record.response;
  if (!response?.kept) {
    return refuse(
      new ResponseNotKeptError(
        "The operation completed, but its response was larger than maxResponseBytes and was not kept; it will not run again",
        { key: attempt.key, route: attempt.route },
      ),
    );
  }
  const { expiresAt } = record;
  if (!state.cipher) return { kind: "replay", response, expiresAt };
  return state.cipher.open(attempt.id, response).then(
    (opened): ClaimOutcome => ({ kind: "replay", response: opened, expiresAt }),
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

/** The 409 of a request whose key another request holds. */
export function inFlight(attempt: Attempt): OncelyError {
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
