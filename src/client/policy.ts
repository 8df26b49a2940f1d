import type { ProblemDetails } from "./errors.js";
import { parseRetryAfter } from "./retry-after.js";

// The client keeps its own copies of the server's problem types instead of importing src/core/errors.ts, so the
// browser bundle never carries the engine; test/client/policy.test.ts checks they still agree.
/** Every problem type oncely answers with starts with this. */
export const ONCELY_PROBLEM_PREFIX = "urn:oncely:problem:";
/** oncely's answer while another request with the same key is running. */
export const IN_FLIGHT_PROBLEM = `${ONCELY_PROBLEM_PREFIX}in-flight`;

/** RFC 9110 §9.2.2: repeating these has the same effect as sending them once, so they are retried without a key. */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);

/** A response as the policy needs it; every adapter can give this much. */
export interface ResponseFacts {
  status: number;
  header(name: string): string | null | undefined;
  /** The parsed error body, when the status is one whose body matters (400, 409, 422) and it was JSON. */
  problem?: ProblemDetails;
}

/** What one attempt ended with: a response, or the error of an attempt that got none (network failure, timeout). */
export type AttemptOutcome = { response: ResponseFacts; error?: undefined } | { response?: undefined; error: unknown };

/** The policy's verdict on one attempt, before limits and the deadline are applied. */
export type Verdict =
  | { verdict: "final" }
  | { verdict: "rejected"; status: number; problem: ProblemDetails }
  | { verdict: "retry"; retryAfter?: number }
  | { verdict: "not-retryable" };

/**
 * Decides whether an attempt's outcome is worth another attempt. Retrying is only ever considered for a request that
 * carries an Idempotency-Key or whose method is idempotent; then network errors, timeouts, 408, 429, 5xx (but 501
 * and 505) and a 409 that says "still in progress" are retried. A replayed response is final whatever its status.
 *
 * @param keyed whether the request carried an Idempotency-Key
 * @param method the request method, upper case
 */
export function judge({ response }: AttemptOutcome, method: string, keyed: boolean, now = Date.now()): Verdict {
  const retriable = keyed || IDEMPOTENT_METHODS.has(method);
  if (!response) return { verdict: retriable ? "retry" : "not-retryable" };
  const { status, problem } = response;
  if (isReplayed(response)) return FINAL;
  if ((status === 400 || status === 422) && problem && isIdempotencyProblem(problem)) {
    return { verdict: "rejected", status, problem };
  }
  const retryable =
    status === 408 ||
    status === 429 ||
    // 501 and 505 say the server will never handle this request, however often it is sent.
    (status >= 500 && status <= 599 && status !== 501 && status !== 505) ||
    // Only a keyed request can be "in flight" on the server.
    (status === 409 && keyed && isInFlightConflict(response));
  if (!retriable || !retryable) return FINAL;
  return {
    verdict: "retry",
    retryAfter: parseRetryAfter(response.header("retry-after"), now, response.header("date")),
  };
}

/** `Idempotent-Replayed: true` (or the structured-field boolean `?1`): the server answered from its stored record. */
export function isReplayed(response: ResponseFacts): boolean {
  return /^\s*(true|\?1)\s*$/i.test(response.header("idempotent-replayed") ?? "");
}

/**
 * A 409 that means "a request with this key is still running": oncely's problem type, Stripe's error code
 * (`idempotency_key_in_use`), or, from any other server, a 409 that carries `Retry-After`. Any other 409 is the
 * API's own conflict, and final.
 */
export function isInFlightConflict({ problem, header }: ResponseFacts): boolean {
  return (
    problem?.type === IN_FLIGHT_PROBLEM || problem?.code === "idempotency_key_in_use" || header("retry-after") != null
  );
}

/**
 * A 400/422 about the Idempotency-Key itself rather than the request's content: oncely's problem types, Stripe's
 * `idempotency_error`, or a problem whose type, title or code names idempotency (the IETF draft's examples do).
 */
export function isIdempotencyProblem({ type, title, code }: ProblemDetails): boolean {
  return !!type?.startsWith(ONCELY_PROBLEM_PREFIX) || /idempoten/i.test([type, title, code].join(" "));
}

const FINAL: Verdict = { verdict: "final" };
