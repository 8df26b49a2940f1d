import { OncelyError } from "../../core/errors.js";

// The proxy's own answers, as problem+json through the engine's problemResponse, like every oncely refusal.

/** The upstream could not be reached, or dropped the connection before a whole response: answered `502`. */
export class UpstreamError extends OncelyError {
  override readonly name = "UpstreamError";
  override readonly code = "bad_gateway";
  override readonly status = 502;
  override readonly title = "The upstream server did not answer";

  /** Fixed: the message names the upstream's address and the socket error, which are for the proxy's log. */
  override get detail(): string {
    return "The upstream server could not be reached or did not send a whole response; the cause is in the proxy's log.";
  }
}

/** The upstream took longer than `--upstream-timeout`: answered `504`. */
export class UpstreamTimeoutError extends OncelyError {
  override readonly name = "UpstreamTimeoutError";
  override readonly code = "gateway_timeout";
  override readonly status = 504;
  override readonly title = "The upstream server did not answer in time";

  /** Fixed: the message names the upstream's address, which is for the proxy's log. */
  override get detail(): string {
    return "The upstream server did not answer in time.";
  }
}

/** The proxy is shutting down: new requests, and requests it stopped waiting for, are answered `503`. */
export class ShuttingDownError extends OncelyError {
  override readonly name = "ShuttingDownError";
  override readonly code = "shutting_down";
  override readonly status = 503;
  override readonly title = "The proxy is shutting down";
}

/**
 * A guarded request's `Connection` header names the key header: the key is then for this hop only and would not
 * reach the upstream, so the proxy refuses the request (`400`) rather than run it unguarded or guard a request the
 * upstream sees without its key.
 */
export class HopByHopKeyError extends OncelyError {
  override readonly name = "HopByHopKeyError";
  override readonly code = "hop_by_hop_key";
  override readonly status = 400;
  override readonly title = "Idempotency-Key named in Connection";
}

/**
 * The request target is not one the proxy forwards: the asterisk form (`OPTIONS *`), the authority form (`CONNECT`),
 * or an absolute URL that is not http(s). Answered `400`.
 */
export class BadRequestTargetError extends OncelyError {
  override readonly name = "BadRequestTargetError";
  override readonly code = "bad_request_target";
  override readonly status = 400;
  override readonly title = "The request target cannot be forwarded";
}

/** undici's error codes for a timeout; everything else that fails below HTTP is a bad gateway. */
const TIMEOUTS = new Set(["UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT", "UND_ERR_CONNECT_TIMEOUT"]);

/** Maps what the HTTP client threw to the proxy's answer; the message names the cause, never a body. */
export function upstreamFailure(error: unknown, upstream: string, timeout: number): OncelyError {
  const code = (error as { code?: unknown })?.code;
  if (typeof code === "string" && TIMEOUTS.has(code)) {
    return new UpstreamTimeoutError(`${upstream} did not answer within ${timeout} ms`, { cause: error });
  }
  const reason = typeof code === "string" ? code : ((error as Error)?.message ?? String(error));
  return new UpstreamError(`${upstream} failed: ${reason}`, { cause: error });
}
