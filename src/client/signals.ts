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

/** The signal of one attempt. */
export interface AttemptSignal {
  /** Aborts with the caller's reason, or with the reason of the first limit that passed. */
  readonly signal: AbortSignal;
  /**
   * Stops the timers. With `followCaller`, the caller's signal keeps aborting this one (so aborting after the call
   * resolved still cancels reading the response body, as with plain fetch); otherwise the link is removed too.
   */
  settle(followCaller: boolean): void;
}

/**
 * The signal of one attempt: aborts when the caller's signal does, or when the first of `limits` passes. Its reason
 * says which: the caller's own, or the limit's (a timeout error, a deadline error).
 *
 * @param limits `[ms, reason]` pairs; `Infinity` never fires, and on a tie the one listed first wins
 */
export function attemptSignal(parent: AbortSignal | undefined, limits: [number, () => unknown][]): AttemptSignal {
  const controller = new AbortController();
  const { signal } = controller;
  const follow = () => controller.abort(parent?.reason);
  if (parent?.aborted) follow();
  else parent?.addEventListener("abort", follow, { once: true });
  const timers = limits.map(
    ([ms, reason]) => Number.isFinite(ms) && later(() => signal.aborted || controller.abort(reason()), ms),
  );
  return {
    signal,
    settle(followCaller) {
      for (const timer of timers) if (timer) clearTimeout(timer);
      if (!followCaller) parent?.removeEventListener("abort", follow);
    },
  };
}
