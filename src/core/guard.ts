import { parsedBodySize } from "./body-size.js";
import {
  type Attempt,
  acquire,
  type ClaimOutcome,
  type EngineState,
  emitFor,
  eventFor,
  notKept,
} from "./claim-flow.js";
import { type ClaimHolder, holdClaim } from "./claim-holder.js";
import type { IdempotencyContext, TransactionClient } from "./context.js";
import { deriveKey } from "./derive-key.js";
import { fitEncoding } from "./encoding.js";
import {
  type InvalidKeyError,
  MissingKeyError,
  type OncelyError,
  RateLimitedError,
  RequestTooLargeError,
  StoreError,
} from "./errors.js";
import { defaultFingerprint } from "./fingerprint.js";
import { hashParts } from "./hash.js";
import { parseIdempotencyKey } from "./key.js";
import type { ResolvedRouteOptions } from "./options.js";
import type { RateLimiter } from "./rate-limiter.js";
import { headerValue, type IdempotencyRequest } from "./request.js";
import { problemResponse, type ResponseData, replayResponse, storableHeaders } from "./response.js";
import { scopeText } from "./scope.js";
import { lazyStep } from "./steps.js";
import type { StoredResponse } from "./store.js";

/** The request as an adapter hands it over: the body may be read lazily, only when the request is guarded. */
export interface GuardInput extends Omit<IdempotencyRequest, "body"> {
  /** The body, when the adapter already has it (a parsed or buffered body); otherwise `readBody` gets it. */
  body?: Uint8Array;
  /** Reads the body; throws `RequestTooLargeError` (without reading it all) when it is over `limit` bytes. */
  readBody?: (limit: number) => Promise<Uint8Array | undefined>;
}

/** A handler's response as the adapter captured it; `body: null` means it was too large to keep. */
export interface CapturedResponse {
  /** The status the handler answered with. */
  status: number;
  /** Lower-case names, in order, repeats allowed. */
  headers: [string, string][];
  /** The body as sent, or `null` when it grew past `maxResponseBytes`. */
  body: Uint8Array | null;
}

/** What an adapter does with a request. */
export type Decision =
  | {
      /** Not guarded (no key where none is required, or a method oncely leaves alone): run the handler as is. */
      action: "pass";
    }
  | {
      /** Answer without running the handler: a replay or a problem (409, 422, 400, ...). */
      action: "respond";
      /** The answer to send. */
      response: ResponseData;
    }
  | {
      /** The key is claimed: run the handler, then call `finish` (or `abandon` if it threw). */
      action: "execute";
      /** What the handler sees as its idempotency context. */
      context: IdempotencyContext;
      /** The request as normalised (body read), for adapters that must hand the body on. */
      request: IdempotencyRequest;
      /** Bodies larger than this are not kept; adapters may stop buffering past it. */
      maxResponseBytes: number;
      /**
       * Stores (or releases) the outcome. Await it before sending, so an immediate retry finds it. Resolves to a
       * response to send instead, when the outcome was undone rather than stored (a transaction that did not
       * commit: the client must retry); otherwise to `undefined`.
       */
      finish(response: CapturedResponse): Promise<ResponseData | undefined>;
      /** The handler failed: releases the claim so a retry runs again. */
      abandon(error?: unknown): Promise<void>;
    };

export interface GuardSettings {
  header: string;
  maxKeyLength: number;
  limiter?: RateLimiter;
}

const PASS: Decision = { action: "pass" };

/** Runs oncely's side of one HTTP request, up to the point where the handler runs (or does not). */
export async function begin(
  state: EngineState,
  options: ResolvedRouteOptions,
  settings: GuardSettings,
  input: GuardInput,
): Promise<Decision> {
  if (!options.methods.has(input.method)) return PASS;
  const started = performance.now();
  const route = options.route ?? `${input.method} ${input.path}`;

  let key: string | undefined;
  try {
    key = parseIdempotencyKey(input.headers[settings.header], settings.maxKeyLength);
  } catch (error) {
    return refuse(state, input, route, started, error as InvalidKeyError, "invalid");
  }
  if (key === undefined) {
    if (!options.required) return PASS;
    const missing = new MissingKeyError(`This route requires an Idempotency-Key header`, { route });
    return refuse(state, input, route, started, missing, "invalid");
  }

  let body = input.body;
  try {
    // No await when an adapter handed over the body or a parsed one: every tick shows on this path.
    if (body === undefined && input.parsedBody === undefined && input.readBody) {
      body = await input.readBody(options.maxRequestBytes);
    }
    // One limit whoever read the body: oncely (bytes), or a framework's parser before it (the parsed value).
    const size = body
      ? body.byteLength
      : input.parsedBody === undefined
        ? 0
        : parsedBodySize(input.headers, input.parsedBody);
    if (size > options.maxRequestBytes) throw new RequestTooLargeError("");
  } catch (error) {
    if (!(error instanceof RequestTooLargeError)) throw error;
    const tooLarge = new RequestTooLargeError(`The request body is over ${options.maxRequestBytes} bytes`, {
      key,
      route,
    });
    return refuse(state, input, route, started, tooLarge, "too-large", key);
  }
  // The documented shape, built field by field: copying `input` minus `readBody` by rest/spread costs more.
  const request: IdempotencyRequest = {
    method: input.method,
    path: input.path,
    query: input.query,
    headers: input.headers,
    body,
    parsedBody: input.parsedBody,
    raw: input.raw,
  };

  const scope = options.scope ? scopeText(await options.scope(request)) : undefined;
  const scopeHash = scope === undefined ? undefined : hashParts(["oncely:scope", scope]).slice(0, 16);
  const id = hashParts(["oncely:id:v1", scope ?? "", key]);
  if (settings.limiter && options.rateLimit) {
    const wait = settings.limiter.hit(id, Date.now());
    if (wait > 0) {
      const error = new RateLimitedError(`Over ${options.rateLimit.max} requests with this key`, {
        key,
        route,
        retryAfter: wait / 1000,
      });
      return refuse(state, input, route, started, error, "rate-limited", key);
    }
  }
  let fingerprint: string;
  try {
    fingerprint = options.fingerprint
      ? await options.fingerprint(request)
      : defaultFingerprint(request, options.fingerprintHeaders);
  } catch (error) {
    if (error instanceof RequestTooLargeError) return refuse(state, input, route, started, error, "too-large", key);
    throw error;
  }

  const attempt: Attempt = {
    id,
    key,
    fingerprint,
    route,
    scope: scopeHash,
    meta: { key, method: input.method, path: input.path, ...(scopeHash ? { scope: scopeHash } : {}) },
    started,
    storeDuration: 0,
  };
  const outcome = await acquire(state, attempt, options);
  switch (outcome.kind) {
    case "replay": {
      state.replays?.add(attempt.id);
      emitFor(state, attempt, "replayed", { status: outcome.response.status });
      const acceptEncoding = headerValue(request, "accept-encoding");
      return { action: "respond", response: await fitEncoding(replayResponse(outcome.response), acceptEncoding) };
    }
    case "refuse": {
      emitFor(state, attempt, eventFor(outcome.error.status), {
        status: outcome.error.status,
        reason: outcome.error.code,
      });
      return { action: "respond", response: problemResponse(outcome.error, input.path) };
    }
    case "store-error": {
      emitFor(state, attempt, "store-error", { reason: outcome.error.message, error: outcome.error });
      if (options.failOpen) return PASS;
      return { action: "respond", response: problemResponse(outcome.error, input.path) };
    }
    case "execute": {
      const claim = holdClaim(state, attempt, outcome, options);
      // No await for a plain claim's holder, which comes at once: every tick shows on this path.
      if (!(claim instanceof Promise)) return execute(state, options, attempt, request, scope, outcome, claim);
      return execute(state, options, attempt, request, scope, outcome, await claim);
    }
  }
}

/** Answers a request oncely refuses before claiming anything (bad key, too large, rate limited). */
function refuse(
  state: EngineState,
  input: GuardInput,
  route: string,
  started: number,
  error: OncelyError,
  type: "invalid" | "too-large" | "rate-limited",
  key?: string,
): Decision {
  state.emit?.({
    type,
    route,
    key,
    status: error.status,
    reason: error.message,
    duration: performance.now() - started,
  });
  return { action: "respond", response: problemResponse(error, input.path) };
}

function execute(
  state: EngineState,
  options: ResolvedRouteOptions,
  attempt: Attempt,
  request: IdempotencyRequest,
  scope: string | undefined,
  outcome: Extract<ClaimOutcome, { kind: "execute" }>,
  claim: ClaimHolder,
): Decision {
  const { token, recovered } = outcome;
  if (recovered) emitFor(state, attempt, "recovered", { token });
  let skip = false;
  const step = lazyStep(state, attempt, outcome, claim);
  const context: IdempotencyContext = {
    key: attempt.key,
    scope: attempt.scope,
    recovered,
    token,
    get signal() {
      return claim.signal;
    },
    skipStore: () => {
      skip = true;
    },
    deriveKey: (label) => deriveKey({ scope, key: attempt.key }, label),
    transaction: claim.transaction as TransactionClient | undefined,
    get step() {
      return step();
    },
  };
  return {
    action: "execute",
    context,
    request,
    maxResponseBytes: options.maxResponseBytes,
    async finish(response) {
      if (skip) return void (await claim.release("skipStore() was called", { status: response.status }));
      if (!options.storeWhen(response.status)) {
        const reason = `status ${response.status} is not stored (storeWhen)`;
        return void (await claim.release(reason, { status: response.status }));
      }
      const fits = response.body !== null && response.body.byteLength <= options.maxResponseBytes;
      const outcome = fits
        ? {
            status: response.status,
            headers: storableHeaders(response.headers, options.excludeHeaders),
            body: response.body!,
            kept: true,
          }
        : notKept(response.status);
      let stored: StoredResponse | undefined;
      try {
        stored = await claim.complete(outcome);
      } catch (error) {
        if (error instanceof StoreError) return problemResponse(error, request.path);
        throw error;
      }
      if (stored) {
        emitFor(state, attempt, "executed", {
          status: response.status,
          token,
          ...(stored.kept ? {} : { reason: "the response was too large to keep; retries get response_not_kept" }),
        });
      }
      return undefined;
    },
    abandon: (error) => claim.release("the handler failed", { error }),
  };
}
