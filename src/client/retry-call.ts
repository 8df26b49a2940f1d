import { backoffDelay } from "./backoff.js";
import { IdempotencyRequestError, RetriesExhaustedError, RetryDeadlineError } from "./errors.js";
import type { IdempotencyInfo } from "./info.js";
import type { KeyStore } from "./key-store.js";
import type { RetrySettings } from "./options.js";
import { type AttemptOutcome, isReplayed, judge } from "./policy.js";

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

const now = (): number => globalThis.performance?.now?.() ?? Date.now();

/**
 * One logical call across all its attempts: its key, its attempt count, its deadline. Every adapter creates one per
 * call, feeds it each attempt's outcome, and does what the returned `Step` says; so fetch, axios and ky share one
 * policy.
 */
export class RetryCall<R> {
  attempts = 0;
  readonly #started = now();
  readonly #settings: RetrySettings<R>;
  readonly #intent: string | undefined;
  /** The last attempt's error or status, for a deadline error raised before the next attempt. */
  #last: { error?: unknown; status?: number } = {};

  constructor(
    settings: RetrySettings<R>,
    readonly method: string,
    /** The key sent on every attempt, `undefined` when none is sent. */
    readonly key: string | undefined,
    intent?: string,
  ) {
    this.#settings = settings;
    this.#intent = intent;
  }

  /** Milliseconds left before the deadline (Infinity without one). */
  remaining(): number {
    return this.#settings.deadline - (now() - this.#started);
  }

  /**
   * Starts an attempt; returns its budget. Throws `RetryDeadlineError` instead when the deadline has passed (a wait
   * that ended on time can still be followed by a late event loop): no attempt starts after the deadline.
   */
  beginAttempt(): { timeout: number; deadline: number } {
    const budget = this.budget();
    if (budget.deadline <= 0) throw this.deadlineError();
    this.attempts += 1;
    return budget;
  }

  /** The running attempt's timeout, and the time left to the deadline. */
  budget(): { timeout: number; deadline: number } {
    return { timeout: this.#settings.timeout, deadline: this.remaining() };
  }

  /** The typed error for a deadline that passed; cause and status default to the last finished attempt's. */
  deadlineError(cause?: unknown, lastStatus?: number, reason?: string): RetryDeadlineError {
    return new RetryDeadlineError(this.#settings.deadline, {
      idempotencyKey: this.key,
      attempts: this.attempts,
      cause: cause ?? this.#last.error,
      lastStatus: lastStatus ?? this.#last.status,
      reason,
    });
  }

  /** What the caller learns about a response through `idempotencyInfo`. */
  info(outcome?: AttemptOutcome): IdempotencyInfo {
    const replayed = outcome?.kind === "response" && isReplayed(outcome.response);
    return { idempotencyKey: this.key, replayed, attempts: this.attempts };
  }

  /**
   * Applies the policy, the retry limit and the deadline to an attempt's outcome. A final answer (or a refused key)
   * clears the call's intent from the key store; an unfinished call keeps it for the next try.
   *
   * @param response the adapter's own response object, passed to `onRetry`
   * @param cause the adapter's own error for a refused request (an AxiosError), kept as the typed error's cause
   */
  async next(outcome: AttemptOutcome, response?: R, cause?: unknown): Promise<Step> {
    const verdict = judge(outcome, this.method, this.key !== undefined);
    if (verdict.verdict === "final") {
      await this.#forgetIntent();
      return { action: "return" };
    }
    if (verdict.verdict === "rejected") {
      await this.#forgetIntent();
      const context = { idempotencyKey: this.key, attempts: this.attempts, cause };
      return { action: "throw", error: new IdempotencyRequestError(verdict.status, verdict.problem, context) };
    }
    if (verdict.verdict === "not-retryable") return { action: "rethrow" };

    const error = outcome.kind === "response" ? undefined : outcome.error;
    const status = outcome.kind === "response" ? outcome.response.status : undefined;
    this.#last = { error, status };
    if (this.attempts > this.#settings.retries) {
      if (outcome.kind === "response") return { action: "return" };
      const exhausted = new RetriesExhaustedError({ idempotencyKey: this.key, attempts: this.attempts, cause: error });
      return { action: "throw", error: exhausted };
    }
    const jittered = backoffDelay(this.attempts, this.#settings.backoff);
    // Never earlier than the server asked; the jittered backoff still spreads clients out when it is the longer.
    const delay = Math.max(verdict.retryAfter ?? 0, jittered);
    if (delay >= this.remaining()) {
      const why = verdict.retryAfter === undefined ? undefined : `the server asked to wait ${verdict.retryAfter} ms`;
      return { action: "throw", error: this.deadlineError(error, status, why) };
    }
    await this.#settings.onRetry?.({
      attempt: this.attempts,
      delay,
      key: this.key,
      error,
      response,
      retryAfter: verdict.retryAfter,
    });
    return { action: "retry", delay };
  }

  async #forgetIntent(): Promise<void> {
    if (this.#intent === undefined || this.key === undefined) return;
    await forgetIntent(this.#settings.keyStore, this.#intent, this.key);
  }
}

/** Removes the intent's key, unless another call already replaced it with a newer one. */
async function forgetIntent(store: KeyStore, intent: string, key: string): Promise<void> {
  try {
    if ((await store.get(intent)) === key) await store.delete(intent);
  } catch {
    // The answer is final whether or not the store could be updated; a stale entry expires with its `maxAge`.
  }
}
