import type { EngineState } from "./claim-flow.js";
import type { IdempotencyContext } from "./context.js";
import { toMilliseconds } from "./duration.js";
import { createResponseCipher } from "./encryption.js";
import { begin, type Decision, type GuardInput } from "./guard.js";
import {
  checkStoreSupports,
  type IdempotencyOptions,
  type ResolvedRouteOptions,
  type RouteOptions,
  resolveRouteOptions,
} from "./options.js";
import { RateLimiter } from "./rate-limiter.js";
import { type RunOptions, runOnce } from "./run.js";
import type { Store } from "./store.js";

/** A route's guard: validated options plus the one call adapters make per request. */
export interface RouteGuard {
  /** The route's options after validation and defaults (durations in ms). */
  readonly options: ResolvedRouteOptions;
  /** Decides what to do with a request: pass it through, answer it (replay or problem), or run the handler. */
  begin(input: GuardInput): Promise<Decision>;
}

/** The object every adapter drives; create one per app and share it between routes and adapters. */
export interface Idempotency {
  /** The store every route of this instance keeps its records in. */
  readonly store: Store;
  /** The instance-wide options after validation and defaults (durations in ms); routes start from these. */
  readonly options: ResolvedRouteOptions;
  /**
   * Validates per-route options once (throws a `TypeError` at registration, not at the first request) and returns
   * the guard adapters call per request.
   */
  route(options?: RouteOptions): RouteGuard;
  /**
   * Runs `work` at most once per key (a job id, a webhook event id) and returns its stored JSON result on repeats.
   * @example const receipt = await idem.run(event.id, () => sendEmail(event));
   */
  run<T>(key: string, work: (context: IdempotencyContext) => T | Promise<T>, options?: RunOptions): Promise<T>;
  /** Closes the store. Timers are unref'd; nothing else keeps the process alive. */
  close(): Promise<void>;
}

/**
 * Creates the idempotency engine.
 *
 * @example
 * import { createIdempotency, MemoryStore } from "oncely";
 * const idem = createIdempotency({ store: new MemoryStore(), scope: (req) => req.headers["x-account-id"] as string });
 *
 * @throws {TypeError} when an option is invalid (the message names it)
 */
export function createIdempotency(options: IdempotencyOptions): Idempotency {
  if (!options || typeof options !== "object") throw new TypeError("Expected an options object with a `store`");
  const { store, storeTimeout = "1s", header = "idempotency-key", maxKeyLength = 255, onEvent, encryption } = options;
  if (!store || typeof store.claim !== "function") {
    throw new TypeError("Expected `store` to be an oncely store, e.g. new MemoryStore()");
  }
  if (!Number.isInteger(maxKeyLength) || maxKeyLength < 1) {
    throw new TypeError("Expected `maxKeyLength` to be a positive whole number");
  }
  if (onEvent !== undefined && typeof onEvent !== "function")
    throw new TypeError("Expected `onEvent` to be a function");
  const base = checkStoreSupports(store, resolveRouteOptions(options));
  const state: EngineState = {
    store,
    storeTimeout: toMilliseconds(storeTimeout, "storeTimeout"),
    cipher: encryption === undefined ? undefined : createResponseCipher(encryption),
    emit: onEvent
      ? (event) => {
          try {
            onEvent(event);
          } catch {
            // A failing logger must not fail the request it logs.
          }
        }
      : undefined,
  };
  const settings = { header: header.toLowerCase(), maxKeyLength };
  const limiters = new Map<string, RateLimiter>();
  const limiterFor = (rate: ResolvedRouteOptions["rateLimit"]) => {
    if (!rate) return undefined;
    const id = `${rate.max}/${rate.window}`;
    let limiter = limiters.get(id);
    if (!limiter) {
      limiter = new RateLimiter(rate.max, rate.window);
      limiters.set(id, limiter);
    }
    return limiter;
  };

  return {
    store,
    options: base,
    route(routeOptions = {}) {
      const resolved = Object.keys(routeOptions).length
        ? checkStoreSupports(store, resolveRouteOptions(routeOptions, base))
        : base;
      const routeSettings = { ...settings, limiter: limiterFor(resolved.rateLimit) };
      return { options: resolved, begin: (input) => begin(state, resolved, routeSettings, input) };
    },
    run: (key, work, runOptions) => runOnce(state, base, key, work, runOptions),
    close: () => store.close(),
  };
}
