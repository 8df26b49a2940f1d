/**
 * `oncely/client`'s key and retry policy on an axios instance.
 *
 * @module oncely/client/axios
 */
import type { AxiosError, AxiosInstance, AxiosResponse, InternalAxiosRequestConfig } from "axios";
import { replayableBody } from "./body.js";
import { isOncelyClientError } from "./errors.js";
import { recordInfo } from "./info.js";
import { createKeyResolver } from "./key-resolver.js";
import {
  type CallOptions,
  checkBodyLimit,
  type RetryOptions,
  resolveRetryOptions,
  withCallOverrides,
} from "./options.js";
import type { AttemptOutcome, ResponseFacts } from "./policy.js";
import { responseFacts } from "./problem.js";
import { type RetryCall, RUNNING, retryCall } from "./retry-call.js";
import { sleep } from "./signals.js";

export { type IdempotencyInfo, idempotencyInfo } from "./info.js";

declare module "axios" {
  interface AxiosRequestConfig {
    /** oncely per-call options: the caller's own `idempotencyKey`, the `intent`, and limits for this call. */
    idempotency?: CallOptions;
  }
}

export interface AxiosIdempotencyOptions extends RetryOptions<AxiosResponse> {
  /**
   * A stream body is read into memory once so every retry can send it again; longer ones are refused with
   * `BodyNotReplayableError` before anything is sent.
   * @default 1048576
   */
  maxBodyBytes?: number;
}

// axios copies a config on every request (and flattens it at dispatch) keeping own string-named properties and
// passing class instances by reference, so the call's state rides along to every retry under a string name.
const STATE = "__oncelyCall";

/** One axios call's state, kept on its config across retries. */
class AxiosCall {
  /** Whether the running attempt's timeout was cut short to end at the deadline. */
  deadlineBound = false;
  constructor(
    readonly call: RetryCall<AxiosResponse>,
    /** The per-attempt timeout: the request's own `timeout`, else the `timeout` option. */
    readonly timeout: number,
  ) {}
}

/** Network failures that leave the request's fate unknown (or say it was never received). */
const NETWORK_CODES = new Set([
  "ERR_NETWORK",
  "ECONNRESET",
  "ECONNREFUSED",
  "EPIPE",
  "EAI_AGAIN",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "ENETDOWN",
  "EHOSTDOWN",
]);
/** axios's codes for an attempt that ran out of time (`ETIMEDOUT` with `transitional.clarifyTimeoutError`). */
const TIMEOUT_CODES = new Set(["ECONNABORTED", "ETIMEDOUT"]);

/**
 * Installs oncely's retry behaviour on an axios instance: one Idempotency-Key per logical call (set once, kept on
 * every retry of it), and the same policy as `createClient`: retries of network errors, timeouts, 408, 429, 5xx
 * (but 501/505) and 409 "still in progress", backoff with `Retry-After`, a total deadline, typed errors for refused
 * keys. Per-call options go in `config.idempotency`. Returns the same instance.
 *
 * Responses axios rejects (by `validateStatus`) still reject with axios's own `AxiosError` once final, and a
 * cancelled call with its `CanceledError`; a refused key rejects with `IdempotencyRequestError` (cause: the
 * AxiosError). `idempotencyInfo(response)` works on axios responses.
 *
 * @example
 * import axios from "axios";
 * import { withIdempotency } from "oncely/client/axios";
 * const api = withIdempotency(axios.create({ baseURL: "https://api.example.com" }), { retries: 5 });
 * await api.post("/charges", { amount: 1000 }, { idempotency: { intent: `charge:${orderId}` } });
 */
export function withIdempotency<T extends AxiosInstance>(instance: T, options: AxiosIdempotencyOptions = {}): T {
  const settings = resolveRetryOptions(options);
  const maxBodyBytes = checkBodyLimit(options.maxBodyBytes);
  const resolveKey = createKeyResolver(settings);

  instance.interceptors.request.use(async function attachIdempotencyKey(config) {
    let state = stateOf(config);
    if (!state) {
      const method = (config.method ?? "get").toUpperCase();
      const headerKey = config.headers.get(settings.header);
      const key = await resolveKey(method, typeof headerKey === "string" ? headerKey : undefined, config.idempotency);
      if (key !== undefined) config.headers.set(settings.header, key);
      config.data = await replayableBody(config.data, config.headers, maxBodyBytes);
      const callSettings = withCallOverrides(settings, config.idempotency);
      const timeout = config.timeout ? config.timeout : callSettings.timeout;
      state = new AxiosCall(retryCall(callSettings, method, key, config.idempotency?.intent), timeout);
      (config as unknown as Record<string, unknown>)[STATE] = state;
    }
    const deadline = state.call.beginAttempt();
    state.deadlineBound = deadline < state.timeout;
    const limit = Math.min(state.timeout, deadline);
    // axios takes 0 for "no timeout"; a finite limit is at least 1 ms.
    config.timeout = Number.isFinite(limit) ? Math.max(1, Math.ceil(limit)) : 0;
    return config;
  });

  instance.interceptors.response.use(
    async function retryResponse(response) {
      const state = stateOf(response.config);
      if (!state) return response;
      const outcome: AttemptOutcome = { response: await axiosResponseFacts(response) };
      const delay = await state.call.next(outcome, response);
      if (delay !== undefined) return retry(response.config, delay);
      recordInfo(response, state.call.info(outcome));
      return response;
    },
    async function retryError(error: AxiosError) {
      const config = error?.config;
      const state = config ? stateOf(config) : undefined;
      if (!config || !state || isOncelyClientError(error) || error.code === "ERR_CANCELED") throw error;
      let outcome: AttemptOutcome;
      if (error.response) outcome = { response: await axiosResponseFacts(error.response) };
      else if (error.code && TIMEOUT_CODES.has(error.code)) {
        if (state.deadlineBound) throw state.call.deadlineError(RUNNING, error);
        outcome = { error };
      } else if (error.code && NETWORK_CODES.has(error.code)) outcome = { error };
      else throw error;
      const delay = await state.call.next(outcome, error.response, error);
      if (delay !== undefined) return retry(config, delay);
      if (error.response) recordInfo(error.response, state.call.info(outcome));
      throw error;
    },
  );

  /**
   * Waits, then sends the same config again: its key header, its state and its already-serialised body come along.
   * A cancellation during the wait ends the wait early, and the new request then fails at once with axios's own
   * `CanceledError`, as any cancelled axios call does.
   */
  async function retry(config: InternalAxiosRequestConfig, delay: number) {
    const signal = config.signal as AbortSignal | undefined;
    await sleep(delay, typeof signal?.addEventListener === "function" ? signal : undefined).catch(() => {});
    return instance.request(config);
  }

  return instance;
}

function stateOf(config: InternalAxiosRequestConfig): AxiosCall | undefined {
  const state = (config as unknown as Record<string, unknown>)[STATE];
  return state instanceof AxiosCall ? state : undefined;
}

function axiosResponseFacts(response: AxiosResponse): Promise<ResponseFacts> {
  const headers = response.headers as Record<string, unknown> & { get?: (name: string) => unknown };
  const header = (name: string) => {
    const value = typeof headers.get === "function" ? headers.get(name) : headers[name.toLowerCase()];
    return value === undefined || value === null ? null : String(value);
  };
  return responseFacts(response.status, header, () => response.data);
}
