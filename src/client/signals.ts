// Portable signal plumbing: AbortSignal.any and AbortSignal.timeout are missing from React Native and from Safari
// before 17.4, so the client links signals and runs its timers itself.

/** `setTimeout`, with `ms` clamped to what it honours (longer delays would fire at once). */
const later = (run: () => void, ms: number) => setTimeout(run, Math.min(Math.max(0, ms), 2_147_483_647));

/**
 * Resolves after `ms`, or rejects with `signal.reason` as soon as `signal` aborts. The timer is deliberately not
 * `unref`'d: a caller is awaiting this retry, and a Node process must not exit in the middle of it.
 *
 * @example
 * await sleep(250, controller.signal);
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = later(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Why an attempt's signal fired. */
export type AbortCause = "caller" | "timeout" | "deadline";

/** The signal of one attempt, and which of its causes fired first. */
export interface AttemptSignal {
  readonly signal: AbortSignal;
  readonly cause: AbortCause | undefined;
  /**
   * Stops the timers. With `followCaller`, the caller's signal keeps aborting this one (so aborting after the call
   * resolved still cancels reading the response body, as with plain fetch); otherwise the link is removed too.
   */
  settle(followCaller: boolean): void;
}

/**
 * The signal of one attempt: aborts when the caller's signal does, when the attempt's own timeout passes, or when the
 * call's deadline does, and remembers which came first.
 *
 * @param timeout ms until the attempt times out (Infinity: never)
 * @param deadline ms until the call's deadline (Infinity: never)
 * @param reasons the abort reasons to use for a timeout and for the deadline
 */
export function attemptSignal(
  parent: AbortSignal | undefined,
  timeout: number,
  deadline: number,
  reasons: { timeout: () => unknown; deadline: () => unknown },
): AttemptSignal {
  const controller = new AbortController();
  const timers: ReturnType<typeof setTimeout>[] = [];
  const abort = (cause: AbortCause, reason: unknown) => {
    if (attempt.signal.aborted) return;
    attempt.cause = cause;
    attempt.settle(false);
    controller.abort(reason);
  };
  const onParentAbort = () => abort("caller", parent?.reason);
  const arm = (ms: number, cause: AbortCause, reason: () => unknown) => {
    timers.push(later(() => abort(cause, reason()), ms));
  };
  const attempt: { -readonly [K in keyof AttemptSignal]: AttemptSignal[K] } = {
    signal: controller.signal,
    cause: undefined,
    settle(followCaller) {
      for (const timer of timers) clearTimeout(timer);
      if (!followCaller) parent?.removeEventListener("abort", onParentAbort);
    },
  };
  if (parent?.aborted) {
    abort("caller", parent.reason);
  } else {
    parent?.addEventListener("abort", onParentAbort, { once: true });
    // The earlier of the two decides; on a tie the deadline wins (it is armed first), since it ends the whole call.
    if (Number.isFinite(deadline)) arm(deadline, "deadline", reasons.deadline);
    if (Number.isFinite(timeout) && timeout < deadline) arm(timeout, "timeout", reasons.timeout);
  }
  return attempt;
}
