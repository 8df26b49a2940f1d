import { type CauseLog, createCauseLog, type IdempotencyLogger } from "./cause-log.js";
import { decisionLevel } from "./decision-fields.js";
import { toMilliseconds } from "./duration.js";
import { createResponseCipher } from "./encryption.js";
import type { EngineState, EventSink } from "./engine-state.js";
import { StoreError } from "./errors.js";
import type { IdempotencyEvent } from "./events.js";
import { begin, type Decision, type GuardInput, type StreamingDecision } from "./guard.js";
import { LeaseRenewals } from "./lease-renewals.js";
import {
  checkStoreSupports,
  type IdempotencyOptions,
  type ResolvedRouteOptions,
  type RouteOptions,
  resolveRouteOptions,
} from "./options.js";
import { createRateLimiter, type RateLimiter } from "./rate-limiter.js";
import type { RecoverOptions, RecoverReport, RegisteredWork } from "./recover.js";
import { replayCounterFor } from "./replay-counter.js";
import type { RunContext, RunOptions } from "./run.js";
import type { Store } from "./store.js";
import { storeCall, unprefixed } from "./store-call.js";

/** The id `ready()` reads: not a hash, so no record can have it. */
const READY_PROBE = "oncely:startup-check";

/** A route's guard: validated options plus the one call adapters make per request. */
export interface RouteGuard<D extends StreamingDecision = Decision> {
  /** The route's options after validation and defaults (durations in ms). */
  readonly options: ResolvedRouteOptions;
  /** Decides what to do with a request: pass it through, answer it (replay or problem), or run the handler. */
  begin(input: GuardInput): Promise<D>;
}

/** What the adapter asking for a route's guard can do. */
export interface AdapterAbilities {
  /**
   * It sends a handler's response through as written and answers `stream` decisions (see `Decision`), so routes with
   * `stream: true` may use it. Without it such a route is refused at registration.
   */
  streams?: boolean;
}

/** The object every adapter drives; create one per app and share it between routes and adapters. */
export interface Idempotency {
  /** The store every route of this instance keeps its records in. */
  readonly store: Store;
  /** The instance-wide options after validation and defaults (durations in ms); routes start from these. */
  readonly options: ResolvedRouteOptions;
  /**
   * Validates per-route options once (throws a `TypeError` at registration, not at the first request) and returns
   * the guard adapters call per request. `adapter` says what the adapter calling it can do.
   */
  route(options?: RouteOptions): RouteGuard;
  /** The same, for an adapter that streams: its guard may answer `stream` decisions. */
  route(
    options: RouteOptions | undefined,
    adapter: AdapterAbilities & { streams: true },
  ): RouteGuard<StreamingDecision>;
  /** The same, for an adapter whose abilities are known only at run time. */
  route(options?: RouteOptions, adapter?: AdapterAbilities): RouteGuard<StreamingDecision>;
  /**
   * Runs `work` at most once per key (a job id, a webhook event id) and returns its stored JSON result on repeats.
   * `work` gets the `step` function (with the rest of the context as its properties): a retry after a crash skips
   * the steps already recorded.
   * @example const receipt = await idem.run(event.id, () => sendEmail(event));
   * @example
   * await idem.run(order.id, async (step) => {
   *   const charge = await step("charge", (s) => psp.charge(order, { idempotencyKey: s.key }));
   *   await step("email", (s) => mailer.send(receipt(charge), { messageId: s.key }));
   * });
   */
  run<T>(key: string, work: (context: RunContext) => T | Promise<T>, options?: RunOptions): Promise<T>;
  /**
   * Runs the handler registered as `name` with `input` (JSON), at most once per key, and keeps the input with the
   * run so that `recover()` can finish it if its client never retries.
   */
  run<T>(key: string, name: string, input: unknown, options?: Omit<RunOptions, "input" | "name">): Promise<T>;
  /**
   * Registers a handler by name, for `idem.run(key, name, input)` and `recover()`.
   * @example idem.define("checkout", (order: Order, step) => checkout(order, step));
   */
  define<I, T>(name: string, handler: (input: I, step: RunContext) => T | Promise<T>): void;
  /**
   * Drives runs started by name whose holder died (lease lapsed) or whose step threw, with steps recorded, to
   * completion from their stored input. Call it from a timer or a cron in every process that defines the handlers.
   */
  recover(options?: RecoverOptions): Promise<RecoverReport>;
  /**
   * The startup check: reads one record that cannot exist, within `storeTimeout`, so a store that is unreachable,
   * misconfigured (a bad URL, database or password), missing its driver or its table fails at boot rather than on the
   * first request. Await it before listening.
   * @throws {StoreError} naming the store and the cause, host and port included (this is the operator's message)
   * @example
   * await idem.ready();
   * app.listen(3000);
   */
  ready(): Promise<void>;
  /** Writes pending replay counts and closes the store. Timers are unref'd; nothing else keeps the process alive. */
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
export function createIdempotency<Raw = unknown>(options: IdempotencyOptions<Raw>): Idempotency {
  if (!options || typeof options !== "object") throw new TypeError("Expected an options object with a `store`");
  const { store, storeTimeout = "1s", header = "idempotency-key", maxKeyLength = 255, onEvent, logger } = options;
  if (!store || typeof store.claim !== "function") {
    throw new TypeError("Expected `store` to be an oncely store, e.g. new MemoryStore()");
  }
  if (!Number.isInteger(maxKeyLength) || maxKeyLength < 1) {
    throw new TypeError("Expected `maxKeyLength` to be a positive whole number");
  }
  // An RFC 9110 token: anything else can never arrive as a header name, so no request would ever carry a key.
  if (typeof header !== "string" || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(header)) {
    throw new TypeError('Expected `header` to be a header name such as "Idempotency-Key"');
  }
  if (onEvent !== undefined && typeof onEvent !== "function")
    throw new TypeError("Expected `onEvent` to be a function");
  const base = checkStoreSupports(store, resolveRouteOptions(options as RouteOptions));
  const causeLog = causeLogFor(logger === undefined ? (onEvent ? false : console) : logger);
  const state: EngineState = {
    store,
    storeTimeout: toMilliseconds(storeTimeout, "storeTimeout"),
    cipher: options.encryption === undefined ? undefined : createResponseCipher(options.encryption),
    events: eventSink(onEvent, causeLog),
    replays: replayCounterFor(store),
    renewals: new LeaseRenewals(),
  };
  const settings = { header: header.toLowerCase(), maxKeyLength };
  const limiters = new Map<string, RateLimiter>();
  const handlers = new Map<string, RegisteredWork>();
  const limiterFor = (rate: ResolvedRouteOptions["rateLimit"]) => {
    if (!rate) return undefined;
    const id = `${rate.max}/${rate.window}`;
    let limiter = limiters.get(id);
    if (!limiter) {
      limiter = createRateLimiter(rate.max, rate.window);
      limiters.set(id, limiter);
    }
    return limiter;
  };

  return {
    store,
    options: base,
    route: function route(
      routeOptions: RouteOptions = {},
      adapter: AdapterAbilities = {},
    ): RouteGuard<StreamingDecision> {
      const resolved = Object.keys(routeOptions).length
        ? checkStoreSupports(store, resolveRouteOptions(routeOptions, base))
        : base;
      if (resolved.stream) checkCanStream(adapter);
      const routeSettings = { ...settings, limiter: limiterFor(resolved.rateLimit) };
      return {
        options: resolved,
        begin: (input) => begin(state, resolved, routeSettings, input),
      };
      // A `stream` decision comes only on a streaming route, which only an adapter that streams gets.
    } as Idempotency["route"],
    run<T>(key: string, work: string | ((context: RunContext) => T | Promise<T>), ...rest: unknown[]): Promise<T> {
      if (typeof work === "function") return runOnce(state, base, key, work, rest[0] as RunOptions | undefined);
      const handler = handlers.get(work);
      if (!handler)
        throw new TypeError(`No handler is defined as "${work}"; call idem.define("${work}", handler) first`);
      const [input, runOptions] = rest as [unknown, RunOptions | undefined];
      const stored = { name: work, input: JSON.stringify(input ?? null) };
      const parsed = JSON.parse(stored.input) as never;
      return runOnce(
        state,
        base,
        key,
        (step) => handler(parsed, step) as T | Promise<T>,
        { ...runOptions, name: work, input: parsed },
        stored,
      );
    },
    define(name, handler) {
      if (typeof name !== "string" || name.length === 0)
        throw new TypeError("Expected `name` to be a non-empty string");
      if (typeof handler !== "function") throw new TypeError("Expected `handler` to be a function");
      if (handlers.has(name)) throw new TypeError(`A handler is already defined as "${name}"`);
      handlers.set(name, handler as RegisteredWork);
    },
    // Loaded on first use, as `idem.run`'s code: an app that only guards HTTP routes never needs either.
    recover: async (recoverOptions) =>
      (await import("./recover.js")).recoverRuns(state, base, handlers, recoverOptions),
    ready: async () => {
      try {
        await storeCall(store.name, "get", state.storeTimeout, () => store.get(READY_PROBE));
      } catch (error) {
        throw new StoreError(store.name, "startup check", `failed: ${unprefixed(store.name, error)}`, { cause: error });
      }
    },
    close: async () => {
      causeLog?.close();
      await state.replays?.flush();
      await store.close();
    },
  };
}

/** Throws a `TypeError` when a `stream: true` route cannot stream: its adapter cannot. */
function checkCanStream(adapter: AdapterAbilities): void {
  if (!adapter.streams) {
    throw new TypeError(
      "`stream: true` needs an adapter that streams (oncely/node, oncely/express, oncely/fastify, oncely/fetch, oncely/hono, oncely/koa, oncely/nest, oncely proxy); this one does not yet",
    );
  }
}

/** The cause log on `logger`, after checking its shape; none for `false`. */
function causeLogFor(logger: IdempotencyLogger | false): CauseLog | undefined {
  if (logger === false) return undefined;
  if (
    typeof logger !== "object" ||
    logger === null ||
    typeof logger.warn !== "function" ||
    typeof logger.error !== "function"
  ) {
    throw new TypeError(
      "Expected `logger` to be an object with `warn` and `error` methods (console, a pino logger) or false",
    );
  }
  return createCauseLog(logger);
}

/** The listeners: the user's `onEvent` (every event) and the cause log (warnings and errors); none for neither. */
function eventSink(
  onEvent: ((event: IdempotencyEvent) => void) | undefined,
  causeLog: CauseLog | undefined,
): EventSink | undefined {
  if (!onEvent && !causeLog) return undefined;
  return {
    listens: onEvent ? () => true : (type) => decisionLevel(type) !== "info",
    emit(event) {
      causeLog?.write(event);
      if (!onEvent) return;
      try {
        onEvent(event);
      } catch {
        // A failing listener must not fail the request it logs.
      }
    },
  };
}

/**
 * `idem.run`'s code, loaded on its first call: an app that only guards HTTP routes never needs it. The promise is
 * kept: an `import()` per call goes through the module loader each time, about a tenth of a replayed run's cost. Once
 * loaded, the module is called directly, without awaiting the kept promise again.
 */
let runModule: Promise<typeof import("./run.js")> | undefined;
let loadedRunModule: typeof import("./run.js") | undefined;

function runOnce<T>(...args: Parameters<typeof import("./run.js").runOnce<T>>): Promise<T> {
  if (loadedRunModule) return loadedRunModule.runOnce<T>(...args);
  runModule ??= import("./run.js").then((module) => (loadedRunModule = module));
  return runModule.then((module) => module.runOnce<T>(...args));
}
