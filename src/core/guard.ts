import { type OpenClaim, openAttempt } from "./attempt.js";
import { parsedBodySize } from "./body-size.js";
import { inFlight } from "./claim.js";
import type { IdempotencyContext } from "./context.js";
import { deriveKey } from "./derive-key.js";
import { fitEncoding } from "./encoding.js";
import { type Attempt, type EngineState, emitFor } from "./engine-state.js";
import {
  CheckFailedError,
  type InvalidKeyError,
  MissingKeyError,
  type OncelyError,
  RateLimitedError,
  RequestTooLargeError,
  StoreError,
} from "./errors.js";
import { expiryPair } from "./expiry-header.js";
import { defaultFingerprint } from "./fingerprint.js";
import { parseIdempotencyKey } from "./key.js";
import type { ResolvedRouteOptions } from "./options.js";
import type { RateLimiter } from "./rate-limiter.js";
import { recordId, scopeHash } from "./record-id.js";
import { headerValue, type IdempotencyRequest } from "./request.js";
import {
  notKept,
  problemResponse,
  type ResponseData,
  replayResponse,
  type StreamedResponse,
  storableHeaders,
} from "./response.js";
import { scopeText } from "./scope.js";
import type { StreamCapture } from "./stream-recorder.js";

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
      /** Headers to send with the handler's response (the key's expiry, with `expiryHeader`); usually none. */
      headers: readonly [string, string][];
      /**
       * Stores (or releases) the outcome. Await it before sending, so an immediate retry finds it. Resolves to a
       * response to send instead, when the outcome was undone rather than stored (a transaction that did not
       * commit: the client must retry); otherwise to `undefined`.
       */
      finish(response: CapturedResponse): Promise<ResponseData | undefined>;
      /** The handler failed: releases the claim so a retry runs again. */
      abandon(error?: unknown): Promise<void>;
      /**
       * On a `stream: true` route: send the handler's response through as it is written, feeding it here, and call
       * `stream.end()` (instead of `finish`) or `stream.fail(error)` (instead of `abandon`).
       */
      stream?: StreamCapture;
    };

/** What an adapter that streams (`idem.route(options, { streams: true })`) does with a request: also `stream`. */
export type StreamingDecision =
  | Decision
  | {
      /**
       * Answer with a stream, chunk by chunk as `response.chunks` yields them, without running the handler: a retry
       * following a stream in flight, or the replay of a completed one (`stream: true` routes only).
       */
      action: "stream";
      /** The answer to stream. */
      response: StreamedResponse;
    };

export interface GuardSettings {
  header: string;
  maxKeyLength: number;
  limiter?: RateLimiter;
}

const PASS: Decision = { action: "pass" };
const NO_HEADERS: readonly [string, string][] = [];

/**
 * Runs oncely's side of one HTTP request, up to the point where the handler runs (or does not). A function of the
 * app that throws (`scope`, `fingerprint`, reading the body) is answered 500 `check_failed`: nothing was claimed.
 */
export async function begin(
  state: EngineState,
  options: ResolvedRouteOptions,
  settings: GuardSettings,
  input: GuardInput,
): Promise<StreamingDecision> {
  if (!options.methods.has(input.method)) return PASS;
  const started = performance.now();
  const route = options.route ?? `${input.method} ${input.path}`;
  try {
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
      if (isClientAborted(error)) {
        // The same answer as a body that could not be read, which nobody reads, and an event of its own, a warning:
        // a client that hung up mid-upload is no fault of the app's.
        const failed = new CheckFailedError(error.message, { cause: error.cause });
        return refuse(state, input, route, started, failed, "client-aborted", key, error.cause);
      }
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
    const id = recordId(scope, key);
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

    const hashedScope = scope === undefined ? undefined : scopeHash(scope);
    const attempt: Attempt = {
      id,
      key,
      fingerprint,
      route,
      scope: hashedScope,
      meta: hashedScope
        ? { key, method: input.method, path: input.path, scope: hashedScope }
        : { key, method: input.method, path: input.path },
      started,
      storeDuration: 0,
    };
    const derive = (label: string) => deriveKey({ scope, key: attempt.key }, label);
    let opened = await openAttempt(state, options, attempt, derive);
    while (opened.kind === "join") {
      const { joinStream } = await import("./stream-follower.js");
      const joined = await joinStream(state, options, attempt, opened.token, lastEventId(request));
      if (joined.kind === "follow") return { action: "stream", response: joined.response };
      if (joined.kind === "timeout") return refuseInFlight(state, attempt, input.path);
      // The run ended before it answered: its record is claimable now, or once its lease lapses.
      opened = await openAttempt(state, options, attempt, derive);
    }
    switch (opened.kind) {
      case "execute":
        return options.stream
          ? streamingExecute(state, attempt, options, request, opened.claim)
          : execute(options, request, opened.claim);
      case "replay": {
        if (options.stream) {
          const { replayedStream, storedChunks } = await import("./stream-follower.js");
          const chunks = storedChunks(opened.response);
          if (chunks) {
            const response = replayedStream(opened.response, chunks, lastEventId(request));
            if (options.expiryHeader) response.headers.push(expiryPair(options.expiryHeader, opened.expiresAt));
            return { action: "stream", response };
          }
        }
        const { onReplay, expiryHeader } = options;
        const response =
          onReplay || expiryHeader
            ? // Loaded on first use: apps without the hook or the header never load it.
              await (await import("./replay.js")).replayAnswer(
                opened.response,
                onReplay,
                { request, key, route, expiresAt: opened.expiresAt },
                expiryHeader ? [expiryPair(expiryHeader, opened.expiresAt)] : [],
              )
            : replayResponse(opened.response);
        const fitted = fitEncoding(response, request);
        return { action: "respond", response: fitted instanceof Promise ? await fitted : fitted };
      }
      case "refuse":
        return { action: "respond", response: problemResponse(opened.error, input.path) };
      case "store-error":
        if (options.failOpen) return PASS;
        return { action: "respond", response: problemResponse(opened.error, input.path) };
    }
  } catch (error) {
    // A function of the app threw (`scope`, `fingerprint`, reading the body): nothing was claimed, the handler does not
    // run. The client gets a 500 with a fixed detail; the error goes to the log and `onEvent`.
    const failed = new CheckFailedError("The request could not be checked", { cause: error });
    return refuse(state, input, route, started, failed, "check-failed", undefined, error);
  }
}

/**
 * Answers a request oncely refuses before claiming anything (bad key, too large, rate limited, or a check that threw:
 * its `cause` goes to the event).
 */
function refuse(
  state: EngineState,
  input: GuardInput,
  route: string,
  started: number,
  error: OncelyError,
  type: "invalid" | "too-large" | "rate-limited" | "check-failed" | "client-aborted",
  key?: string,
  cause?: unknown,
): Decision {
  if (state.events?.listens(type)) {
    const aborted = type === "client-aborted";
    state.events.emit({
      type,
      route,
      key,
      // An aborted client's connection is gone: no status reaches anyone.
      status: aborted ? undefined : error.status,
      reason:
        cause === undefined || aborted
          ? error.message
          : "a scope or fingerprint function threw, or the request body could not be read",
      ...(cause === undefined ? {} : { error: cause }),
      duration: performance.now() - started,
    });
  }
  return { action: "respond", response: problemResponse(error, input.path) };
}

/** The decision to run the handler under `claim`; `finish` turns what it answered into the stored outcome. */
function execute(options: ResolvedRouteOptions, request: IdempotencyRequest, claim: OpenClaim): Decision {
  // `finish` and `abandon` keep the path, not the request: holding on to them keeps no framework object reachable.
  const path = request.path;
  return {
    action: "execute",
    context: claim.context,
    request,
    maxResponseBytes: options.maxResponseBytes,
    // At least until then: the record is kept `ttl` from completion, which is later.
    headers: options.expiryHeader ? [expiryPair(options.expiryHeader, Date.now() + options.ttl)] : NO_HEADERS,
    async finish(response) {
      if (!claim.skipped && !options.storeWhen(response.status)) {
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
      try {
        await claim.finish(outcome);
      } catch (error) {
        if (error instanceof StoreError) return problemResponse(error, path);
        throw error;
      }
      return undefined;
    },
    abandon: (error) => claim.release("the handler failed", { error }),
  };
}

/**
 * The decision to run a streaming route's handler: as `execute`, plus the recorder the adapter feeds as the handler
 * writes. Loaded on first use: routes that never stream never load it.
 */
async function streamingExecute(
  state: EngineState,
  attempt: Attempt,
  options: ResolvedRouteOptions,
  request: IdempotencyRequest,
  claim: OpenClaim,
): Promise<Decision> {
  const decision = execute(options, request, claim) as Extract<Decision, { action: "execute" }>;
  const { StreamRecorder } = await import("./stream-recorder.js");
  decision.stream = new StreamRecorder(state, attempt, claim.context.token, options, decision.finish, decision.abandon);
  return decision;
}

/** A follower that waited `waitTimeout` for the run's first byte: the same 409 as `onInFlight: "reject"`. */
function refuseInFlight(state: EngineState, attempt: Attempt, path: string): Decision {
  const error = inFlight(attempt);
  emitFor(state, attempt, "conflict", { status: error.status, reason: error.code });
  return { action: "respond", response: problemResponse(error, path) };
}

/** The event a retry of a server-sent event stream resumes after (`Last-Event-ID`), if it names one. */
function lastEventId(request: IdempotencyRequest): string | undefined {
  return headerValue(request, "last-event-id");
}

/** What an adapter's body reader throws when the client hung up mid-upload (adapters/shared/client-aborted.ts). */
function isClientAborted(error: unknown): error is Error {
  return error instanceof Error && error.name === "ClientAbortedError";
}
