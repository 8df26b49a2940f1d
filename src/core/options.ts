import type { IdempotencyLogger } from "./cause-log.js";
import { type Duration, toMilliseconds } from "./duration.js";
import type { EncryptionOptions } from "./encryption.js";
import type { IdempotencyEvent } from "./events.js";
import { DEFAULT_EXPIRY_HEADER } from "./expiry-header.js";
import type { ReplayHook } from "./replay.js";
import type { IdempotencyRequest } from "./request.js";
import { isStreamStore, isTransactionalStore, type Store } from "./store.js";
import { rejectUnknownOptions } from "./unknown-options.js";

/** What `scope` may return: a principal's id. A number becomes its decimal text. */
export type ScopeValue = string | number | bigint;

/** Options that may be set once on `createIdempotency` and overridden per route. */
export interface RouteOptions<Raw = unknown> {
  /**
   * How long a completed record is kept, from completion. Longer than any realistic retry storm; shorter than a
   * compliance window if responses carry sensitive data.
   * @default "24h"
   */
  ttl?: Duration;
  /**
   * How long a claim holds before another request may take it over (a crashed process loses its claim after this).
   * Renewed every lease/3 while the handler runs, so a slow handler keeps it.
   * @default "30s"
   */
  lease?: Duration;
  /**
   * Methods that are guarded; others pass through untouched.
   * @default ["POST", "PATCH"]
   */
  methods?: readonly string[];
  /**
   * When true, a guarded request without an `Idempotency-Key` is answered `400`; otherwise it passes through.
   * @default false
   */
  required?: boolean;
  /**
   * The principal (account, API key, tenant) a request belongs to. Records are stored per (scope, key), so one
   * principal can never replay or detect another's. Without it every client shares one key space: set it whenever
   * keys come from more than one principal. Only a hash of it is stored.
   *
   * It returns a string, a number or a bigint; a number becomes its decimal text, so `42` and `"42"` are one scope.
   * Anything else (`undefined`, `""`, an object, `NaN`) throws a `TypeError` on that request, which your framework
   * answers 500: a scope that names no principal would silently share one key space between tenants. Return a
   * constant such as `"anonymous"` for requests that have no principal.
   *
   * It receives oncely's request (`{ method, path, query, headers, body, raw }`, the same shape from every adapter),
   * not the framework's: what your auth middleware set is on `request.raw`, which is Express's `req`, Fastify's
   * `request`, Koa's `ctx`, Hono's `c`, the fetch `Request`, node's `IncomingMessage`, or Nest's platform request.
   * @example scope: (request) => request.raw.user.id // Express, after the middleware that sets req.user
   * @default undefined (one shared scope)
   */
  scope?: (request: IdempotencyRequest<Raw>) => ScopeValue | Promise<ScopeValue>;
  /**
   * Computes the request fingerprint. The default hashes method, path, sorted query, canonical body and the
   * headers in `fingerprintHeaders`.
   */
  fingerprint?: (request: IdempotencyRequest<Raw>) => string | Promise<string>;
  /**
   * Request headers that belong to the fingerprint, e.g. `["Stripe-Account"]`; names match in any case.
   * @default []
   */
  fingerprintHeaders?: readonly string[];
  /**
   * What a request does while another with the same key is running: `"reject"` answers `409` with `Retry-After`;
   * `"wait"` waits up to `waitTimeout` for the first to finish and replays it (then `409`); `"join"` (routes with
   * `stream: true` only) answers at once with every chunk the first has written so far, then the rest as it writes
   * them (waiting up to `waitTimeout` for its first byte).
   * @default "reject", or "join" on a route with `stream: true`
   */
  onInFlight?: "reject" | "wait" | "join";
  /**
   * How long `onInFlight: "wait"` waits.
   * @default "10s"
   */
  waitTimeout?: Duration;
  /**
   * Which statuses are stored and replayed. Excluded ones release the claim so a retry runs the handler again.
   * @default (status) => status < 500
   */
  storeWhen?: (status: number) => boolean;
  /**
   * The largest body that is fingerprinted; a larger one is answered `413` and nothing is claimed.
   * @default 1_048_576 (1 MiB)
   */
  maxRequestBytes?: number;
  /**
   * The largest response body that is stored. A larger one is still delivered; retries get a `response_not_kept`
   * problem and the handler never runs again.
   * @default 1_048_576 (1 MiB)
   */
  maxResponseBytes?: number;
  /**
   * Requests allowed per (scope, key) per window in this process; more are answered `429`. `false` turns it off.
   * @default { max: 100, window: "10s" }
   */
  rateLimit?:
    | {
        /** Requests allowed per (scope, key) in one window. */
        max: number;
        /** The window's length. */
        window: Duration;
      }
    | false;
  /**
   * When the store fails: `false` answers `503` and the handler does not run; `true` runs the handler unguarded and
   * emits a `store-error` event. Turn on only where a duplicate is cheaper than an outage.
   * @default false
   */
  failOpen?: boolean;
  /**
   * Response headers never stored (added to hop-by-hop headers, `set-cookie`, `content-length` and `date`); names
   * match in any case.
   * @default []
   */
  excludeHeaders?: readonly string[];
  /**
   * The route streams its response (server-sent events, NDJSON, any chunked body): each chunk goes to the client as
   * the handler writes it and is recorded in the store as it goes, in batches fenced by the claim's token. A retry
   * while it runs follows the stream (`onInFlight: "join"`), a retry after it completed gets it again chunk by
   * chunk, and for `text/event-stream` a `Last-Event-ID` request header resumes after that event. Needs a store that
   * records streams (`MemoryStore`, `SqliteStore`, `RedisStore`, `PostgresStore`, `MySqlStore`, `DynamoDbStore`,
   * `LibsqlStore`) and an adapter that can stream (node:http, Express, Fastify, fetch, Hono, Koa, NestJS, the proxy);
   * anything else is refused at registration. See docs/streaming.md.
   * @default false
   */
  stream?: boolean;
  /** A name for the route in events (e.g. the route template `POST /charges/:id`). @default method and path */
  route?: string;
  /**
   * Runs the claim, the handler's own writes (through `context.transaction`) and the stored response in one
   * transaction of a store that supports it (`PostgresStore`): a crash leaves all or nothing, and a response that is
   * not stored (a thrown handler, a status `storeWhen` excludes, `skipStore()`) rolls the handler's writes back.
   * Cannot be combined with `failOpen`.
   * @default false
   */
  transactional?: boolean;
  /**
   * Adjusts a replayed response for this answer only: add a header, change the status, refresh a field of the body.
   * Called with a copy of the stored response and the request; returns the response to send, or nothing to send the
   * stored one as it is. What is stored never changes: every replay starts again from the stored original.
   * `Idempotent-Replayed: true` is added after it runs. Not called for oncely's own answers (409, 410, 422, ...).
   *
   * @example
   * onReplay: ({ response, expiresAt }) => ({
   *   ...response,
   *   headers: [...response.headers, ["x-replayed-until", new Date(expiresAt).toISOString()]],
   * })
   * @default undefined (replays are sent as stored)
   */
  onReplay?: ReplayHook<Raw>;
  /**
   * Tells the client until when its key is kept, in a response header holding an HTTP-date: on the first answer (at
   * least until then: the record is kept `ttl` from completion) and on every replay (the record's own expiry).
   * `true` names it `Idempotency-Key-Expires`; a string names it yourself. The header is never stored.
   * @default false
   */
  expiryHeader?: boolean | string;
}

/**
 * `createIdempotency`'s options. `Raw` types `request.raw` in `scope` and `fingerprint` when the instance serves one
 * framework: `createIdempotency<express.Request>({ ... })`.
 */
export interface IdempotencyOptions<Raw = unknown> extends RouteOptions<Raw> {
  /** Where records live. */
  store: Store;
  /**
   * The longest a store call may take before the request is answered `503` (or run, with `failOpen`).
   * @default "1s"
   */
  storeTimeout?: Duration;
  /**
   * The request header that carries the key; the name matches in any case.
   * @default "idempotency-key"
   */
  header?: string;
  /**
   * The longest accepted key.
   * @default 255
   */
  maxKeyLength?: number;
  /** Called once per decision (`executed`, `replayed`, `conflict`, ...). Never receives bodies. */
  onEvent?: (event: IdempotencyEvent) => void;
  /**
   * Where the causes of failures go (a store that is down, a `scope` function that threw, a result fenced out): one
   * line per distinct cause, then a count of its repeats every 10 s. Clients never see a cause, only a fixed
   * problem `detail`. `false` writes nothing (see `onEvent` for every decision).
   * @default console, unless `onEvent` is set (then nothing: the events carry each cause)
   */
  logger?: IdempotencyLogger | false;
  /**
   * Encrypts stored responses (headers and body) at rest with AES-256-GCM, under named keys so they can be rotated.
   * @default undefined (stored as sent)
   */
  encryption?: EncryptionOptions;
}

/** Route options with every default applied and every duration in milliseconds. */
export interface ResolvedRouteOptions {
  ttl: number;
  lease: number;
  methods: ReadonlySet<string>;
  required: boolean;
  scope?: RouteOptions["scope"];
  fingerprint?: RouteOptions["fingerprint"];
  fingerprintHeaders: readonly string[];
  onInFlight: "reject" | "wait" | "join";
  waitTimeout: number;
  storeWhen: (status: number) => boolean;
  maxRequestBytes: number;
  maxResponseBytes: number;
  rateLimit: { max: number; window: number } | false;
  failOpen: boolean;
  excludeHeaders: ReadonlySet<string>;
  route?: string;
  transactional: boolean;
  stream: boolean;
  onReplay?: ReplayHook;
  /** The expiry header's lower-case name, when it is on. */
  expiryHeader?: string;
}

const ROUTE_OPTION_NAMES = new Set([
  "ttl",
  "lease",
  "methods",
  "required",
  "scope",
  "fingerprint",
  "fingerprintHeaders",
  "onInFlight",
  "waitTimeout",
  "storeWhen",
  "maxRequestBytes",
  "maxResponseBytes",
  "rateLimit",
  "failOpen",
  "excludeHeaders",
  "route",
  "transactional",
  "stream",
  "onReplay",
  "expiryHeader",
]);
const GLOBAL_OPTION_NAMES = new Set([
  "store",
  "storeTimeout",
  "header",
  "maxKeyLength",
  "onEvent",
  "logger",
  "encryption",
]);

/** Applies defaults and validates, throwing a `TypeError` that names the option. */
export function resolveRouteOptions(options: RouteOptions, base?: ResolvedRouteOptions): ResolvedRouteOptions {
  rejectUnknownOptions(
    "idempotency",
    options,
    base ? ROUTE_OPTION_NAMES : [...ROUTE_OPTION_NAMES, ...GLOBAL_OPTION_NAMES],
  );
  const pick = <K extends keyof ResolvedRouteOptions>(key: K, fallback: ResolvedRouteOptions[K]) =>
    base ? base[key] : fallback;
  const resolved: ResolvedRouteOptions = {
    ttl: options.ttl === undefined ? pick("ttl", 86_400_000) : toMilliseconds(options.ttl, "ttl"),
    lease: options.lease === undefined ? pick("lease", 30_000) : toMilliseconds(options.lease, "lease"),
    methods: options.methods ? methodSet(options.methods) : pick("methods", new Set(["POST", "PATCH"])),
    required: options.required === undefined ? pick("required", false) : bool(options.required, "required"),
    scope: options.scope ?? base?.scope,
    fingerprint: options.fingerprint ?? base?.fingerprint,
    fingerprintHeaders: options.fingerprintHeaders
      ? headerNames(options.fingerprintHeaders, "fingerprintHeaders")
      : pick("fingerprintHeaders", []),
    onInFlight: options.onInFlight === undefined ? pick("onInFlight", "reject") : inFlight(options.onInFlight),
    waitTimeout:
      options.waitTimeout === undefined
        ? pick("waitTimeout", 10_000)
        : toMilliseconds(options.waitTimeout, "waitTimeout"),
    storeWhen: options.storeWhen ?? pick("storeWhen", (status: number) => status < 500),
    maxRequestBytes:
      options.maxRequestBytes === undefined
        ? pick("maxRequestBytes", 1_048_576)
        : byteCount(options.maxRequestBytes, "maxRequestBytes"),
    maxResponseBytes:
      options.maxResponseBytes === undefined
        ? pick("maxResponseBytes", 1_048_576)
        : byteCount(options.maxResponseBytes, "maxResponseBytes"),
    rateLimit:
      options.rateLimit === undefined ? pick("rateLimit", { max: 100, window: 10_000 }) : rate(options.rateLimit),
    failOpen: options.failOpen === undefined ? pick("failOpen", false) : bool(options.failOpen, "failOpen"),
    excludeHeaders: options.excludeHeaders
      ? new Set(headerNames(options.excludeHeaders, "excludeHeaders"))
      : pick("excludeHeaders", new Set()),
    route: options.route ?? base?.route,
    transactional:
      options.transactional === undefined ? pick("transactional", false) : bool(options.transactional, "transactional"),
    stream: options.stream === undefined ? pick("stream", false) : bool(options.stream, "stream"),
    onReplay: options.onReplay ?? base?.onReplay,
    expiryHeader: options.expiryHeader === undefined ? base?.expiryHeader : expiryHeaderName(options.expiryHeader),
  };
  if (resolved.expiryHeader && !resolved.excludeHeaders.has(resolved.expiryHeader)) {
    // The header describes this answer's record; a stored copy would replay the first answer's estimate.
    resolved.excludeHeaders = new Set([...resolved.excludeHeaders, resolved.expiryHeader]);
  }
  if (resolved.transactional && resolved.failOpen) {
    // Running the handler outside the transaction would write its effects without the record that guards them.
    throw new TypeError(
      "`failOpen` cannot be combined with `transactional`: the handler's writes need the transaction",
    );
  }
  if (resolved.stream) {
    // Joining is what a retry of a stream wants; an explicit choice of the route, or of the instance, still wins.
    if (options.onInFlight === undefined && !base?.stream && resolved.onInFlight === "reject") {
      resolved.onInFlight = "join";
    }
    if (resolved.transactional) {
      throw new TypeError(
        "`stream` cannot be combined with `transactional`: a stream's chunks are recorded as written",
      );
    }
  } else if (resolved.onInFlight === "join") {
    throw new TypeError('`onInFlight: "join"` needs `stream: true`: only a recorded stream can be joined');
  }
  for (const name of ["scope", "fingerprint", "storeWhen", "onReplay"] as const) {
    if (resolved[name] !== undefined && typeof resolved[name] !== "function") {
      throw new TypeError(`Expected \`${name}\` to be a function`);
    }
  }
  return resolved;
}

function methodSet(methods: readonly string[]): ReadonlySet<string> {
  if (!Array.isArray(methods) || methods.some((m) => typeof m !== "string" || m.length === 0)) {
    throw new TypeError('Expected `methods` to be an array of HTTP methods such as ["POST", "PATCH"]');
  }
  return new Set(methods.map((m) => m.toUpperCase()));
}

/** Header names in lower case, as every adapter presents them, so `"Stripe-Account"` matches as written. */
function headerNames(names: unknown, option: string): string[] {
  if (!Array.isArray(names) || names.some((name) => typeof name !== "string" || name.length === 0)) {
    throw new TypeError(`Expected \`${option}\` to be a list of header names such as ["Stripe-Account"]`);
  }
  return names.map((name: string) => name.toLowerCase());
}

/** `true` is the default name, a string a name of the user's (any case), `false` turns it off. */
function expiryHeaderName(value: unknown): string | undefined {
  if (value === false) return undefined;
  if (value === true) return DEFAULT_EXPIRY_HEADER;
  if (typeof value === "string" && /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(value)) return value.toLowerCase();
  throw new TypeError('Expected `expiryHeader` to be true, false or a header name such as "Idempotency-Key-Expires"');
}

function bool(value: unknown, name: string): boolean {
  if (typeof value !== "boolean") throw new TypeError(`Expected \`${name}\` to be true or false`);
  return value;
}

function inFlight(value: unknown): "reject" | "wait" | "join" {
  if (value !== "reject" && value !== "wait" && value !== "join") {
    throw new TypeError('Expected `onInFlight` to be "reject", "wait" or "join"');
  }
  return value;
}

function byteCount(value: unknown, name: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0) {
    throw new TypeError(`Expected \`${name}\` to be a non-negative whole number of bytes`);
  }
  return value;
}

function rate(value: unknown): { max: number; window: number } | false {
  if (value === false) return false;
  const { max, window } = (value ?? {}) as { max?: unknown; window?: unknown };
  if (typeof max !== "number" || !Number.isInteger(max) || max < 1) {
    throw new TypeError('Expected `rateLimit` to be false or { max: 100, window: "10s" } with a positive `max`');
  }
  return { max, window: toMilliseconds(window, "rateLimit.window") };
}

/** Throws a `TypeError` when the options ask for something the store cannot do. */
export function checkStoreSupports(store: Store, options: ResolvedRouteOptions): ResolvedRouteOptions {
  if (options.transactional && !isTransactionalStore(store)) {
    throw new TypeError(
      `\`transactional: true\` needs a store with a transactional mode (PostgresStore); the ${store.name} store has none`,
    );
  }
  if (options.stream && !isStreamStore(store)) {
    throw new TypeError(
      `\`stream: true\` needs a store that records streams (MemoryStore, SqliteStore, RedisStore, PostgresStore, MySqlStore, DynamoDbStore, LibsqlStore); the ${store.name} store does not, and oncely never buffers a stream instead`,
    );
  }
  return options;
}
