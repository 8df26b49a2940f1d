import { type Duration, toMilliseconds } from "../core/duration.js";
import type { Backoff } from "./backoff.js";
import { type KeyGenerator, randomKey } from "./key.js";
import { type KeyStore, memoryKeyStore } from "./key-store.js";

/** What `onRetry` hears before each wait. `R` is the adapter's response type (a fetch `Response`, an axios response). */
export interface RetryInfo<R = Response> {
  /** The attempt that just failed, 1 for the first. The next attempt is `attempt + 1`. */
  attempt: number;
  /** Milliseconds the client waits before the next attempt. */
  delay: number;
  /** The Idempotency-Key the call sends on every attempt (`undefined` when it sends none). */
  key: string | undefined;
  /** The failed attempt's error (a network error, or an `AttemptTimeoutError`), when it got no response. */
  error?: unknown;
  /** The failed attempt's response (a 409 in flight, a 429, a 503, ...), when it got one. */
  response?: R;
  /** The response's `Retry-After`, in milliseconds, when it had one. */
  retryAfter?: number;
}

/** The retry policy and key handling shared by `createClient` and the axios and ky adapters. */
export interface RetryOptions<R = Response> {
  /**
   * How many times one call may be retried after its first attempt.
   * @default 3
   */
  retries?: number;
  /**
   * Exponential backoff with full jitter: retry n waits a random time up to `min(cap, base * 2^(n-1))`, or at least
   * the `Retry-After` the server asked for. Milliseconds or strings such as `"500ms"`.
   * @default { base: 500, cap: 10000 }
   */
  backoff?: {
    /** The first retry waits up to this long. */
    base?: Duration;
    /** No backoff wait is longer than this (a `Retry-After` may be). */
    cap?: Duration;
  };
  /**
   * The whole call (every attempt and every wait) ends by this time after it started, with a
   * `RetryDeadlineError`; an attempt still running then is aborted. `false` for none.
   * @default "60s"
   */
  deadline?: Duration | false;
  /**
   * How long one attempt may wait for a response before it is aborted and retried. `false` for none.
   * @default "10s"
   */
  timeout?: Duration | false;
  /** Called before each wait; a thrown error ends the call with that error. */
  onRetry?: (info: RetryInfo<R>) => void | Promise<void>;
  /**
   * Keeps the key of each pending `intent` until it gets a final answer. Use `storageKeyStore(localStorage)` to keep
   * them across reloads, or `storageKeyStore(AsyncStorage)` across React Native app restarts.
   * @default memoryKeyStore() (one per client)
   */
  keyStore?: KeyStore;
  /**
   * Makes a new key. Needed where `crypto.randomUUID` and `crypto.getRandomValues` are both missing (React Native
   * without a polyfill).
   * @default crypto.randomUUID, falling back to a UUID v4 from crypto.getRandomValues
   */
  generateKey?: KeyGenerator;
  /**
   * The request header that carries the key.
   * @default "Idempotency-Key"
   */
  header?: string;
  /**
   * The methods that get a key automatically. Any request gets one when the call passes `idempotencyKey` or
   * `intent`.
   * @default ["POST", "PATCH"]
   */
  methods?: readonly string[];
}

/** Per-call options: what identifies this call's key, and overrides of the client's limits. */
export interface CallOptions {
  /**
   * The key to send, when the caller already has one (say, an order id). `false` sends no key, and then a
   * non-idempotent request is never retried.
   */
  idempotencyKey?: string | false;
  /**
   * A name for the user's intent ("checkout:cart-42"): its key is kept in the key store until the intent gets a
   * final answer, so a retry after a reload or crash reuses it. A final answer clears it; the next call under the same
   * name is a new intent with a new key.
   */
  intent?: string;
  /** This call's `retries`, instead of the client's. */
  retries?: number;
  /** This call's `deadline`, instead of the client's. */
  deadline?: Duration | false;
  /** This call's per-attempt `timeout`, instead of the client's. */
  timeout?: Duration | false;
}

/** Options after validation: numbers in milliseconds, `Infinity` for "none". */
export interface RetrySettings<R = Response> {
  retries: number;
  backoff: Backoff;
  deadline: number;
  timeout: number;
  onRetry?: (info: RetryInfo<R>) => void | Promise<void>;
  keyStore: KeyStore;
  generateKey: KeyGenerator;
  header: string;
  methods: ReadonlySet<string>;
}

/** Throws the setup error for option `name`: "Expected `name` to be <what>". */
export function expected(name: string, what: string): never {
  throw new TypeError(`Expected \`${name}\` to be ${what}`);
}

const NONNEGATIVE = { allowZero: true };
const isFunction = (value: unknown) => typeof value === "function";

/**
 * Validates and defaults the shared options once, at setup: a typo fails when the client is created, naming the
 * option, not on the first request.
 */
export function resolveRetryOptions<R>(options: RetryOptions<R> = {}): RetrySettings<R> {
  if (typeof options !== "object" || options === null) expected("options", "an object");
  const {
    backoff = {},
    header = "Idempotency-Key",
    methods = ["POST", "PATCH"],
    keyStore = memoryKeyStore(),
    onRetry,
    generateKey = randomKey,
  } = options;
  const base = toMilliseconds(backoff.base ?? 500, "backoff.base", NONNEGATIVE);
  const cap = toMilliseconds(backoff.cap ?? 10_000, "backoff.cap", NONNEGATIVE);
  if (cap < base) expected("backoff.cap", `at least \`backoff.base\` (${cap} < ${base} ms)`);
  // An HTTP token (RFC 9110 §5.6.2): anything else is refused by fetch on every request.
  if (typeof header !== "string" || !/^[!#$%&'*+.^_`|~\w-]+$/.test(header)) {
    expected("header", `a header name, got ${String(header)}`);
  }
  if (!Array.isArray(methods) || !methods.every((method) => typeof method === "string" && method)) {
    expected("methods", 'an array of methods such as ["POST"]');
  }
  if (onRetry !== undefined && !isFunction(onRetry)) expected("onRetry", "a function");
  if (!isFunction(generateKey)) expected("generateKey", "a function");
  if (![keyStore.get, keyStore.set, keyStore.delete].every(isFunction)) expected("keyStore", "{ get, set, delete }");
  const defaults = { retries: 3, deadline: 60_000, timeout: 10_000 };
  const methodSet = new Set(methods.map((method) => method.toUpperCase()));
  return withCallOverrides(
    { ...defaults, backoff: { base, cap }, onRetry, keyStore, generateKey, header, methods: methodSet },
    options,
  );
}

/** The settings with the overrides in `call` (the client's own options, or one call's) applied and validated. */
export function withCallOverrides<R>(settings: RetrySettings<R>, call: CallOptions = {}): RetrySettings<R> {
  const { retries = settings.retries, deadline = settings.deadline, timeout = settings.timeout } = call;
  return {
    ...settings,
    retries: count(retries, "retries"),
    deadline: limitOf(deadline, "deadline"),
    timeout: limitOf(timeout, "timeout"),
  };
}

/** The `fetch` option, checked; the platform's fetch (looked up on every call, so later polyfills count) without it. */
export function checkFetch<F>(fetch: F | undefined): F {
  if (fetch !== undefined && !isFunction(fetch)) expected("fetch", "a function with fetch's signature");
  return fetch ?? (((input: RequestInfo, init: RequestInit) => globalThis.fetch(input, init)) as F);
}

/** The `maxBodyBytes` option, checked. @default 1 MiB, the server's default `maxRequestBytes` */
export function checkBodyLimit(limit: unknown = 1_048_576): number {
  return count(limit, "maxBodyBytes");
}

/** A count (`retries`, `maxBodyBytes`): a non-negative integer. */
function count(value: unknown, option: string): number {
  if (!Number.isInteger(value) || (value as number) < 0) {
    expected(option, `a non-negative integer, got ${JSON.stringify(value)}`);
  }
  return value as number;
}

/** A duration, or `false`/`Infinity` for "no limit". */
function limitOf(value: unknown, option: string): number {
  return value === false || value === Number.POSITIVE_INFINITY
    ? Number.POSITIVE_INFINITY
    : toMilliseconds(value, option);
}
