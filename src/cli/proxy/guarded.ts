import type { ServerResponse } from "node:http";
import { sendNodeResponse } from "../../adapters/shared/node-response.js";
import { bufferStream } from "../../adapters/shared/stream-body.js";
import type { Decision } from "../../core/guard.js";
import type { RequestAbort } from "./abort.js";
import { ShuttingDownError, upstreamFailure } from "./errors.js";
import { clientResponseHeaders, type HeaderRecord, headerPairs } from "./headers.js";
import { pipeTo } from "./pipe.js";
import { sendProblem } from "./respond.js";
import type { Upstream, UpstreamResponse } from "./upstream.js";

export type Execute = Extract<Decision, { action: "execute" }>;

export interface GuardedRequest {
  res: ServerResponse;
  path: string;
  /** The target to send upstream, in origin-form. */
  url: string;
  headers: HeaderRecord;
  decision: Execute;
  /** Aborted by a shutdown that stopped waiting for this request. */
  signal: RequestAbort;
}

/** What became of a guarded request, for the proxy's log. */
export type GuardedOutcome =
  | { kind: "answered" }
  | { kind: "upstream-failed"; status: number; reason: string }
  | { kind: "shut-down" };

/**
 * Runs a claimed request against the upstream, as an adapter runs a handler: the response is buffered (up to the
 * route's `maxResponseBytes`) and handed to the engine to store before a byte reaches the client; a larger one is
 * recorded as not kept and streamed on. When the upstream cannot be reached, times out or drops the connection before
 * a whole response, the claim is released (a retry runs again) and the client gets a 502 or 504 problem.
 *
 * A client that goes away does not abort the upstream request: it has begun the operation, and its outcome is stored
 * so that the client's retry is answered with it.
 */
export async function forwardGuarded(upstream: Upstream, request: GuardedRequest): Promise<GuardedOutcome> {
  const { res, decision } = request;
  let status: number;
  let headers: HeaderRecord;
  let buffered: Awaited<ReturnType<typeof bufferStream>>;
  try {
    const response = await requestUpstream(upstream, request);
    status = response.status;
    headers = responseHeaders(response, decision);
    buffered = await bufferStream(response.body, decision.maxResponseBytes);
  } catch (error) {
    await decision.abandon(error);
    return answerFailure(upstream, request, error);
  }

  const replacement = await decision.finish({ status, headers: headerPairs(headers), body: buffered.body });
  if (replacement) {
    buffered.replacement.destroy();
    sendNodeResponse(res, replacement);
    return { kind: "answered" };
  }
  if (buffered.body) {
    headers["content-length"] = String(buffered.body.byteLength);
    res.writeHead(status, headers);
    res.end(buffered.body);
    return { kind: "answered" };
  }
  // Too large to keep: recorded as completed and not kept; the rest streams through as it arrives.
  res.writeHead(status, headers);
  await pipeTo(buffered.replacement, res).catch(() => res.destroy());
  return { kind: "answered" };
}

/** Sends a claimed request upstream, its body as the engine read it. */
export function requestUpstream(upstream: Upstream, request: GuardedRequest): Promise<UpstreamResponse> {
  return upstream.request({
    method: request.decision.request.method,
    url: request.url,
    headers: request.headers,
    body: request.decision.request.body ?? null,
    signal: request.signal,
  });
}

/** The upstream's response headers as the client gets them, with the engine's own (the key's expiry) added. */
export function responseHeaders(response: UpstreamResponse, decision: Execute): HeaderRecord {
  const headers = clientResponseHeaders(response.headers);
  for (const [name, value] of decision.headers) headers[name] = value;
  return headers;
}

/**
 * Answers a claimed request whose upstream failed before its response began (its claim already released): `503`
 * when a shutdown aborted it, otherwise `502` or `504`.
 */
export function answerFailure(upstream: Upstream, request: GuardedRequest, error: unknown): GuardedOutcome {
  if (request.signal.aborted) {
    sendProblem(request.res, shuttingDown(), request.path);
    return { kind: "shut-down" };
  }
  const failure = upstreamFailure(error, upstream.url, upstream.timeout);
  sendProblem(request.res, failure, request.path);
  return { kind: "upstream-failed", status: failure.status, reason: failure.message };
}

/** The answer to a request a shutdown stopped waiting for: its claim was released, so a retry runs it again. */
export function shuttingDown(): ShuttingDownError {
  return new ShuttingDownError("The proxy is shutting down; retry the request", { retryAfter: 1 });
}
