import { type OpenClaim, type Opened, openAttempt } from "./attempt.js";
import type { IdempotencyContext, Step, StepInfo } from "./context.js";
import { deriveKey } from "./derive-key.js";
import type { Attempt, EngineState } from "./engine-state.js";
import { parseIdempotencyKey } from "./key.js";
import { checkStoreSupports, type ResolvedRouteOptions, type RouteOptions, resolveRouteOptions } from "./options.js";
import { runDigests, runScopeHash } from "./run-digests.js";
import { stepKey } from "./steps.js";
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
  const { scope, input, name = "run" } = runOptions;
  const options = optionsFor(state, base, runOptions);
  const parsedKey = parseIdempotencyKey(String(key));
  if (parsedKey === undefined) throw new TypeError("Expected a key");
  // The digests remembered for a retry (run-digests.ts).
  const hashedScope = scope === undefined ? undefined : runScopeHash(scope);
  const digests = runDigests(scope, parsedKey, name, input);
  const attempt: Attempt = {
    id: digests.id,
    key: parsedKey,
    fingerprint: digests.fingerprint,
    route: name,
    scope: hashedScope,
    meta: hashedScope ? { key: parsedKey, path: name, scope: hashedScope } : { key: parsedKey, path: name },
    started: performance.now(),
    storeDuration: 0,
    ...(stored ? { work: stored } : {}),
  };
  return runAttempt(state, options, attempt, (label) => deriveKey({ scope, key: parsedKey }, label), work);
}

/** The options of the last run with overrides, per engine (by its base options), and how many overrides it had. */
const lastResolved = new WeakMap<
  ResolvedRouteOptions,
  { overrides: Record<string, unknown>; count: number; resolved: ResolvedRouteOptions }
>();

/**
 * The base options with a run's overrides (its options other than `scope`, `input` and `name`) applied. A caller that
 * passes the same overrides on every run (the MCP guard passes `onInFlight: "wait"` on each tool call) gets the
 * options resolved for the previous run with equal values, compared in place, instead of resolving and checking them
 * again: that was a tenth of a replayed tool call's work in oncely.
 */
function optionsFor(state: EngineState, base: ResolvedRouteOptions, runOptions: RunOptions): ResolvedRouteOptions {
  const last = lastResolved.get(base);
  let count = 0;
  let same = last !== undefined;
  for (const name in runOptions) {
    if (name === "scope" || name === "input" || name === "name") continue;
    count += 1;
    const value = (runOptions as Record<string, unknown>)[name];
    if (same && !(Object.hasOwn(last!.overrides, name) && Object.is(last!.overrides[name], value))) same = false;
  }
  if (count === 0) return base;
  if (same && count === last!.count) return last!.resolved;
  const { scope: _scope, input: _input, name: _name, ...overrides } = runOptions;
  const resolved = checkStoreSupports(state.store, resolveRouteOptions(overrides, base));
  lastResolved.set(base, { overrides, count, resolved });
  return resolved;
}

/** The context `idem.run` gives its work: the `step` function, carrying the rest of the context as properties. */
export type RunContext = Step & IdempotencyContext;

/**
 * Claims the attempt's record and runs the work under the claim, or answers from the record. `deriveKey` is the
 * context's (see `openAttempt`). Answers a replay, and throws a refusal, in the caller's turn when the store claimed
 * in it (the caller is async, and turns either into its promise).
 */
export function runAttempt<T>(
  state: EngineState,
  options: ResolvedRouteOptions,
  attempt: Attempt,
  deriveKey: (label: string) => string,
  work: (context: RunContext) => T | Promise<T>,
): T | Promise<T> {
  const opened = openAttempt(state, options, attempt, deriveKey);
  return opened instanceof Promise
    ? opened.then((settled) => answer(options, attempt, deriveKey, work, settled))
    : answer(options, attempt, deriveKey, work, opened);
}

/** What the opened attempt comes to: the stored result, a refusal thrown, or the work run under the claim. */
function answer<T>(
  options: ResolvedRouteOptions,
  attempt: Attempt,
  deriveKey: (label: string) => string,
  work: (context: RunContext) => T | Promise<T>,
  opened: Opened,
): T | Promise<T> {
  switch (opened.kind) {
    case "replay": {
      const text = decoder.decode(opened.response.body);
      return (text ? JSON.parse(text) : undefined) as T;
    }
    case "refuse":
      throw opened.error;
    case "join":
      // Only `stream: true` routes join, and `idem.run` has no stream.
      throw new TypeError('`onInFlight: "join"` is for streaming routes; `idem.run` cannot join');
    case "store-error":
      if (options.failOpen) return work(callable(unguardedContext(attempt, deriveKey)));
      throw opened.error;
    case "execute":
      return runClaimed(opened.claim, work);
  }
}

/** Runs the work under its claim, and stores its JSON result, or releases the claim when it throws. */
async function runClaimed<T>(claim: OpenClaim, work: (context: RunContext) => T | Promise<T>): Promise<T> {
  let result: T;
  try {
    result = await work(callable(claim.context));
  } catch (error) {
    await claim.release("the work threw", { error });
    throw error;
  }
  const json = result === undefined ? "" : JSON.stringify(result);
  await claim.finish({
    status: 200,
    headers: [["content-type", "application/json"]],
    body: encoder.encode(json),
    kept: true,
  });
  return result;
}

/** The context as a function (`step`) with the context's properties, so work can be written `async (step) => ...`. */
function callable(context: IdempotencyContext): RunContext {
  const step = ((name: string, fn: Parameters<Step>[1]) => context.step(name, fn)) as RunContext;
  // Named one by one: the context's `signal` and `step` are accessors of its class, which no copy of its own
  // properties would carry. `signal`, `step` and `local` resolve through the context, made on first use.
  Object.defineProperties(step, {
    key: { value: context.key, enumerable: true },
    scope: { value: context.scope, enumerable: true },
    recovered: { value: context.recovered, enumerable: true },
    token: { value: context.token, enumerable: true },
    transaction: { value: context.transaction, enumerable: true },
    skipStore: { value: context.skipStore, enumerable: true },
    deriveKey: { value: context.deriveKey, enumerable: true },
    signal: { get: () => context.signal, enumerable: true },
    step: { get: () => context.step },
    local: { value: (name: string, fn: Parameters<Step["local"]>[1]) => context.step.local(name, fn) },
  });
  return step;
}

/** The context of work run without a claim (`failOpen` while the store is down). */
function unguardedContext(attempt: Attempt, deriveKey: (label: string) => string): IdempotencyContext {
  return {
    key: attempt.key,
    scope: attempt.scope,
    recovered: false,
    token: 0,
    signal: new AbortController().signal,
    skipStore: () => {},
    deriveKey,
    step: unrecordedStep(attempt.id),
  };
}

/**
 * The `step` of work that runs without a claim (`failOpen` while the store is down): every step runs, nothing is
 * recorded, and a step's key falls back to one derived from the record id.
 */
export function unrecordedStep(id: string): Step {
  const signal = new AbortController().signal;
  const step = async <T>(name: string, fn: (step: StepInfo) => T | Promise<T>): Promise<T> =>
    fn({ name, key: stepKey(id, name), signal, resumed: false });
  step.local = async (name: string): Promise<never> => {
    throw new TypeError(`step.local("${name}") needs a claim, and the store failed (failOpen)`);
  };
  return step;
}
