import { backoffDelay } from "./backoff.js";
import {
  AttemptTimeoutError,
  type ClientErrorContext,
  IdempotencyRequestError,
  RetriesExhaustedError,
  RetryDeadlineError,
} from "./errors.js";
import type { IdempotencyInfo } from "./info.js";
import type { RetrySettings } from "./options.js";
import { type AttemptOutcome, isReplayed, judge } from "./policy.js";
import { type AttemptSignal, attemptSignal } from "./signals.js";

/** What the adapter does after an attempt. */
export type Step =
  /** Hand the response to the caller: it is final, or it is retryable and the retries are spent. */
  | { action: "return" }
  /** End the call with this typed error. */
  | { action: "throw"; error: Error }
  /** End the call with the attempt's own error: it is not one the policy retries. */
  | { action: "rethrow" }
  /** Wait `delay` ms, then send the next attempt (`onRetry` has been called). */
  | { action: "retry"; delay: number };

/** One logical call across all its attempts, as `retryCall` makes it. */
export interface RetryCall<R> {
  /** The key sent on every attempt, `undefined` when none is sent. */
  readonly key: string | undefined;
  /** Attempts started so far. */
  attempts: number;
  /**
   * Starts an attempt; returns its budget. Throws `RetryDeadlineError` instead when the deadline has passed (a wait
   * that ended on time can still be followed by a late event loop): no attempt starts after the deadline.
   */
  beginAttempt(): { timeout: number; deadline: number };
  /** The running attempt's signal: it aborts with the caller's signal, at the attempt's timeout or at the deadline. */
  attemptSignal(parent: AbortSignal | undefined): AttemptSignal;
  /** The typed error for a deadline that passed; cause and status default to the last finished attempt's. */
  deadlineError(cause?: unknown, lastStatus?: number, reason?: string): RetryDeadlineError;
  /** What the caller learns about a response through `idempotencyInfo`. */
  info(outcome?: AttemptOutcome): IdempotencyInfo;
  /**
   * Applies the policy, the retry limit and the deadline to an attempt's outcome. A final answer (or a refused key)
   * clears the call's intent from the key store; an unfinished call keeps it for the next try.
   *
   * @param response the adapter's own response object, passed to `onRetry`
   * @param cause the adapter's own error for a refused request (an AxiosError), kept as the typed error's cause
   */
  next(outcome: AttemptOutcome, response?: R, cause?: unknown): Promise<Step>;
}

const now = (): number => globalThis.performance?.now?.() ?? Date.now();
/** Why a deadline error ended an attempt that had not answered yet. */
export const RUNNING = "an attempt was still running";

/**
 * One logical call: its key, its attempt count, its deadline. Every adapter creates one per call, feeds it each
 * attempt's outcome, and does what the returned `Step` says; so fetch, axios and ky share one policy.
 */
export function retryCall<R>(
  settings: RetrySettings<R>,
  method: string,
  key: string | undefined,
  intent?: string,
): RetryCall<R> {
  const started = now();
  const remaining = () => settings.deadline - (now() - started);
  /** The last attempt's error or status, for a deadline error raised before the next attempt. */
  let last: { error?: unknown; status?: number } = {};
  const context = (cause?: unknown): ClientErrorContext => ({ idempotencyKey: key, attempts: call.attempts, cause });

  /** Removes the intent's key, unless another call already replaced it with a newer one. */
  async function forgetIntent(): Promise<void> {
    if (intent === undefined || key === undefined) return;
    try {
      if ((await settings.keyStore.get(intent)) === key) await settings.keyStore.delete(intent);
    } catch {
      // The answer is final whether or not the store could be updated; a stale entry expires with its `maxAge`.
    }
  }

  const call: RetryCall<R> = {
    key,
    attempts: 0,
    beginAttempt() {
      const deadline = remaining();
      if (deadline <= 0) throw call.deadlineError();
      call.attempts += 1;
      return { timeout: settings.timeout, deadline };
    },
    attemptSignal: (parent) =>
      attemptSignal(parent, settings.timeout, remaining(), {
        timeout: () => new AttemptTimeoutError(settings.timeout, context()),
        deadline: () => call.deadlineError(undefined, undefined, RUNNING),
      }),
    deadlineError: (cause, lastStatus, reason) =>
      new RetryDeadlineError(settings.deadline, {
        ...context(cause ?? last.error),
        lastStatus: lastStatus ?? last.status,
        reason,
      }),
    info: (outcome) => ({
      idempotencyKey: key,
      replayed: outcome?.kind === "response" && isReplayed(outcome.response),
      attempts: call.attempts,
    }),
    async next(outcome, response, cause) {
      const verdict = judge(outcome, method, key !== undefined);
      if (verdict.verdict === "final" || verdict.verdict === "rejected") {
        await forgetIntent();
        if (verdict.verdict === "final") return { action: "return" };
        return { action: "throw", error: new IdempotencyRequestError(verdict.status, verdict.problem, context(cause)) };
      }
      if (verdict.verdict === "not-retryable") return { action: "rethrow" };

      const error = outcome.kind === "response" ? undefined : outcome.error;
      const status = outcome.kind === "response" ? outcome.response.status : undefined;
      last = { error, status };
      if (call.attempts > settings.retries) {
        if (outcome.kind === "response") return { action: "return" };
        return { action: "throw", error: new RetriesExhaustedError(context(error)) };
      }
      const { retryAfter } = verdict;
      // Never earlier than the server asked; the jittered backoff still spreads clients out when it is the longer.
      const delay = Math.max(retryAfter ?? 0, backoffDelay(call.attempts, settings.backoff));
      if (delay >= remaining()) {
        const why = retryAfter === undefined ? undefined : `the server asked to wait ${retryAfter} ms`;
        return { action: "throw", error: call.deadlineError(error, status, why) };
      }
      await settings.onRetry?.({ attempt: call.attempts, delay, key, error, response, retryAfter });
      return { action: "retry", delay };
    },
  };
  return call;
}
