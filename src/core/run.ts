import { canonicalJson } from "./canonical-json.js";
import { type Attempt, acquire, type EngineState, emitFor, eventFor } from "./claim-flow.js";
import { holdClaim } from "./claim-holder.js";
import type { IdempotencyContext, TransactionClient } from "./context.js";
import { deriveKey } from "./derive-key.js";
import { hashParts } from "./hash.js";
import { parseIdempotencyKey } from "./key.js";
import { checkStoreSupports, type ResolvedRouteOptions, type RouteOptions, resolveRouteOptions } from "./options.js";
import { lazyStep, type Step, unrecordedStep } from "./steps.js";
import type { StoredWork } from "./store.js";

/** Options of one `idem.run` call. */
export interface RunOptions
  extends Pick<RouteOptions, "ttl" | "lease" | "onInFlight" | "waitTimeout" | "failOpen" | "transactional"> {
  /** The principal the work belongs to; keys are unique per scope. */
  scope?: string;
  /**
   * The work's input. When given, a repeat of the key with different input throws `FingerprintMismatchError`
   * instead of returning the first result.
   */
  input?: unknown;
  /** A name for the work in events. @default "run" */
  name?: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Runs `work` at most once per (scope, key) and stores its JSON result; repeats return the stored copy.
 * @throws {InFlightError} while another run of the key is in progress (after `waitTimeout` with `"wait"`)
 * @throws {FingerprintMismatchError} when `input` differs from the first run's
 * @throws {StoreError} when the store fails (unless `failOpen`), or a `transactional` run's commit fails (the work's
 *   writes were then rolled back with it)
 */
export async function runOnce<T>(
  state: EngineState,
  base: ResolvedRouteOptions,
  key: string,
  work: (context: RunContext) => T | Promise<T>,
  runOptions: RunOptions = {},
  stored?: StoredWork,
): Promise<T> {
  const { scope, input, name = "run", ...overrides } = runOptions;
  const options = Object.keys(overrides).length
    ? checkStoreSupports(state.store, resolveRouteOptions(overrides, base))
    : base;
  const parsedKey = parseIdempotencyKey(String(key));
  if (parsedKey === undefined) throw new TypeError("Expected a key");
  const scopeHash = scope === undefined ? undefined : hashParts(["oncely:scope", scope]).slice(0, 16);
  const attempt: Attempt = {
    id: hashParts(["oncely:id:v1", scope ?? "", parsedKey]),
    key: parsedKey,
    fingerprint: hashParts(["oncely:run", name, input === undefined ? "" : canonicalJson(input)]),
    route: name,
    scope: scopeHash,
    meta: { key: parsedKey, path: name, ...(scopeHash ? { scope: scopeHash } : {}) },
    started: performance.now(),
    storeDuration: 0,
    ...(stored ? { work: stored } : {}),
  };
  return runAttempt(state, options, attempt, scope, work);
}

/** The context `idem.run` gives its work: the `step` function, carrying the rest of the context as properties. */
export type RunContext = Step & IdempotencyContext;

/** Claims the attempt's record and runs the work under the claim, or answers from the record. */
export async function runAttempt<T>(
  state: EngineState,
  options: ResolvedRouteOptions,
  attempt: Attempt,
  scope: string | null | undefined,
  work: (context: RunContext) => T | Promise<T>,
): Promise<T> {
  const outcome = await acquire(state, attempt, options);
  switch (outcome.kind) {
    case "replay": {
      state.replays?.add(attempt.id);
      emitFor(state, attempt, "replayed", { status: outcome.response.status });
      const text = decoder.decode(outcome.response.body);
      return (text ? JSON.parse(text) : undefined) as T;
    }
    case "refuse":
      emitFor(state, attempt, eventFor(outcome.error.status), { reason: outcome.error.code });
      throw outcome.error;
    case "store-error":
      emitFor(state, attempt, "store-error", { reason: outcome.error.message, error: outcome.error });
      if (options.failOpen) return work(callable(unguardedContext(attempt, scope)));
      throw outcome.error;
  }
  if (outcome.recovered) emitFor(state, attempt, "recovered", { token: outcome.token });
  const claim = await holdClaim(state, attempt, outcome, options);
  let skip = false;
  const step = lazyStep(state, attempt, outcome, claim);
  // Field by field, not a spread of the unguarded context: that would make its abort signal and step for nothing.
  const context: IdempotencyContext = {
    key: attempt.key,
    scope: attempt.scope,
    deriveKey: keyDeriver(attempt, scope),
    recovered: outcome.recovered,
    token: outcome.token,
    get signal() {
      return claim.signal;
    },
    skipStore: () => {
      skip = true;
    },
    transaction: claim.transaction as TransactionClient | undefined,
    get step() {
      return step();
    },
  };
  let result: T;
  try {
    result = await work(callable(context));
  } catch (error) {
    await claim.release("the work threw", { error });
    throw error;
  }
  if (skip) {
    await claim.release("skipStore() was called");
    return result;
  }
  const json = result === undefined ? "" : JSON.stringify(result);
  const body = encoder.encode(json);
  const stored = await claim.complete({
    status: 200,
    headers: [["content-type", "application/json"]],
    body,
    kept: true,
  });
  if (stored) emitFor(state, attempt, "executed", { status: 200, token: outcome.token });
  return result;
}

/** The context as a function (`step`) with the context's properties, so work can be written `async (step) => ...`. */
function callable(context: IdempotencyContext): RunContext {
  const step = ((name: string, fn: Parameters<Step>[1]) => context.step(name, fn)) as RunContext;
  const { step: _own, ...descriptors } = Object.getOwnPropertyDescriptors(context);
  Object.defineProperties(step, descriptors);
  // `step` and `local` resolve through the context's own step, made on first use.
  Object.defineProperties(step, {
    step: { get: () => context.step },
    local: { value: (name: string, fn: Parameters<Step["local"]>[1]) => context.step.local(name, fn) },
  });
  return step;
}

/** The context of work run without a claim (`failOpen` while the store is down). */
function unguardedContext(attempt: Attempt, scope: string | null | undefined): IdempotencyContext {
  return {
    key: attempt.key,
    scope: attempt.scope,
    recovered: false,
    token: 0,
    signal: new AbortController().signal,
    skipStore: () => {},
    deriveKey: keyDeriver(attempt, scope),
    step: unrecordedStep(attempt.id),
  };
}

/** `scope` is `null` in runs `recover()` drives: only the scope's hash is stored, so `deriveKey` cannot work. */
function keyDeriver(attempt: Attempt, scope: string | null | undefined): IdempotencyContext["deriveKey"] {
  return (label) => {
    if (scope === null) {
      throw new TypeError(
        "deriveKey() is not available in a run recover() drives (the scope is not stored); use step keys (s.key)",
      );
    }
    return deriveKey({ scope, key: attempt.key }, label);
  };
}
