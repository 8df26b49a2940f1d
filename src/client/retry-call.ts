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

/** One logical call across all its attempts, as `retryCall` makes it. */
export interface RetryCall<R> {
  /**
   * Starts an attempt; returns the milliseconds left before the deadline. Throws `RetryDeadlineError` instead when
   * none are left (a wait that ended on time can still be followed by a late event loop): no attempt starts after
   * the deadline.
   */
  beginAttempt(): number;
  /**
   * The running attempt's signal: it aborts with the caller's signal, at the deadline (reason: a `RetryDeadlineError`)
   * or at the attempt's timeout (reason: an `AttemptTimeoutError`).
   */
  attemptSignal(parent: AbortSignal | undefined): AttemptSignal;
  /**
   * The typed error for a deadline that passed; its status is the last finished attempt's.
   *
   * @param reason why, when it is not simply that time ran out
   * @param cause the error to keep as `cause`; the last finished attempt's by default
   */
  deadlineError(reason?: string, cause?: unknown): RetryDeadlineError;
  /** What the caller learns about a response through `idempotencyInfo`. */
  info(outcome: AttemptOutcome): IdempotencyInfo;
  /**
   * Applies the policy, the retry limit and the deadline to an attempt's outcome. Returns how many milliseconds to
   * wait before the next attempt (`onRetry` has been called), or `undefined` when the attempt's response is the
   * call's answer: it is final, or retryable with the retries spent. Throws the error that ends the call: a typed
   * one, or the attempt's own error when the policy does not retry it. A final answer (or a refused key) clears the
   * call's intent from the key store; an unfinished call keeps it for the next try.
   *
   * @param response the adapter's own response object, passed to `onRetry`
   * @param cause the adapter's own error for a refused request (an AxiosError), kept as the typed error's cause
   */
  next(outcome: AttemptOutcome, response?: R, cause?: unknown): Promise<number | undefined>;
}

/** A monotonic clock: the deadline must not move when the wall clock is set. */
const now = () => performance.now();
/** Why a deadline error ended an attempt that had not answered yet. */
export const RUNNING = "an attempt was still running";

/**
 * One logical call: its key, its attempt count, its deadline. Every adapter creates one per call, feeds it each
 * attempt's outcome, and does what `next` says; so fetch, axios and ky share one policy.
 */
export function retryCall<R>(
  settings: RetrySettings<R>,
  method: string,
  key: string | undefined,
  intent?: string,
): RetryCall<R> {
  const started = now();
  /** Attempts started so far. */
  let attempts = 0;
  const remaining = () => settings.deadline - (now() - started);
  /** The last finished attempt's error or status, for a deadline error raised before the next attempt. */
  let last: { error?: unknown; status?: number } = {};
  const context = (cause?: unknown): ClientErrorContext => ({ idempotencyKey: key, attempts, cause });

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
    beginAttempt() {
      const left = remaining();
      if (left <= 0) throw call.deadlineError();
      attempts += 1;
      return left;
    },
    // The deadline is listed first: on a tie it wins, since it ends the whole call.
    attemptSignal: (parent) =>
      attemptSignal(parent, [
        [remaining(), () => call.deadlineError(RUNNING)],
        [settings.timeout, () => new AttemptTimeoutError(settings.timeout, context())],
      ]),
    deadlineError: (reason, cause = last.error) =>
      new RetryDeadlineError(settings.deadline, { ...context(cause), lastStatus: last.status, reason }),
    info: ({ response }) => ({
      idempotencyKey: key,
      replayed: !!response && isReplayed(response),
      attempts,
    }),
    async next(outcome, response, cause) {
      const verdict = judge(outcome, method, key !== undefined);
      const { error } = outcome;
      if (verdict.verdict === "not-retryable") throw error;
      if (verdict.verdict !== "retry") {
        await forgetIntent();
        if (verdict.verdict === "final") return undefined;
        throw new IdempotencyRequestError(verdict.status, verdict.problem, context(cause));
      }
      last = { error, status: outcome.response?.status };
      if (attempts > settings.retries) {
        if (outcome.response) return undefined;
        throw new RetriesExhaustedError(context(error));
      }
      const { retryAfter } = verdict;
      // Never earlier than the server asked; the jittered backoff still spreads clients out when it is the longer.
      const delay = Math.max(retryAfter ?? 0, backoffDelay(attempts, settings.backoff));
      if (delay >= remaining()) {
        throw call.deadlineError(retryAfter === undefined ? undefined : `the server asked to wait ${retryAfter} ms`);
      }
      await settings.onRetry?.({ attempt: attempts, delay, key, error, response, retryAfter });
      return delay;
    },
  };
  return call;
}
