import { canonicalJson } from "./canonical-json.js";
import { type Attempt, acquire, type EngineState, emitFor, eventFor } from "./claim-flow.js";
import { holdClaim } from "./claim-holder.js";
import type { IdempotencyContext, TransactionClient } from "./context.js";
import { deriveKey } from "./derive-key.js";
import { hashParts } from "./hash.js";
import { parseIdempotencyKey } from "./key.js";
import { checkStoreSupports, type ResolvedRouteOptions, type RouteOptions, resolveRouteOptions } from "./options.js";

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
  work: (context: IdempotencyContext) => T | Promise<T>,
  runOptions: RunOptions = {},
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
  };
  const outcome = await acquire(state, attempt, options);
  switch (outcome.kind) {
    case "replay": {
      emitFor(state, attempt, "replayed", { status: outcome.response.status });
      const text = decoder.decode(outcome.response.body);
      return (text ? JSON.parse(text) : undefined) as T;
    }
    case "refuse":
      emitFor(state, attempt, eventFor(outcome.error.status), { reason: outcome.error.code });
      throw outcome.error;
    case "store-error":
      emitFor(state, attempt, "store-error", { reason: outcome.error.message, error: outcome.error });
      if (options.failOpen) return work(unguardedContext(attempt, scope));
      throw outcome.error;
  }
  if (outcome.recovered) emitFor(state, attempt, "recovered", { token: outcome.token });
  const claim = holdClaim(state, attempt, outcome, options);
  let skip = false;
  const context: IdempotencyContext = {
    ...unguardedContext(attempt, scope),
    recovered: outcome.recovered,
    token: outcome.token,
    get signal() {
      return claim.signal;
    },
    skipStore: () => {
      skip = true;
    },
    transaction: claim.transaction as TransactionClient | undefined,
  };
  let result: T;
  try {
    result = await work(context);
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

function unguardedContext(attempt: Attempt, scope: string | undefined): IdempotencyContext {
  return {
    key: attempt.key,
    scope: attempt.scope,
    recovered: false,
    token: 0,
    signal: new AbortController().signal,
    skipStore: () => {},
    deriveKey: (label) => deriveKey({ scope, key: attempt.key }, label),
  };
}
