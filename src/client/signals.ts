// Portable signal plumbing: AbortSignal.any and AbortSignal.timeout are missing from React Native and from Safari
// before 17.4, so the client links signals and runs its timers itself.

/** The longest delay setTimeout honours; longer values fire at once. */
const MAX_TIMER = 2_147_483_647;

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
    const timer = setTimeout(
      () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      },
      Math.min(Math.max(0, ms), MAX_TIMER),
    );
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Why an attempt's signal fired. */
export type AbortCause = "caller" | "timeout" | "deadline";

/**
 * The signal of one attempt: aborts when the caller's signal does, when the attempt's own timeout passes, or when the
 * call's deadline does, and remembers which came first.
 */
export class AttemptSignal {
  readonly signal: AbortSignal;
  cause: AbortCause | undefined;
  readonly #controller = new AbortController();
  readonly #timers: ReturnType<typeof setTimeout>[] = [];
  readonly #parent: AbortSignal | undefined;
  readonly #onParentAbort = () => this.#abort("caller", this.#parent?.reason);

  /**
   * @param timeout ms until the attempt times out (Infinity: never)
   * @param deadline ms until the call's deadline (Infinity: never)
   * @param reasons the abort reasons to use for a timeout and for the deadline
   */
  constructor(
    parent: AbortSignal | undefined,
    timeout: number,
    deadline: number,
    reasons: { timeout: () => unknown; deadline: () => unknown },
  ) {
    this.signal = this.#controller.signal;
    this.#parent = parent;
    if (parent?.aborted) {
      this.#abort("caller", parent.reason);
      return;
    }
    parent?.addEventListener("abort", this.#onParentAbort, { once: true });
    // The earlier of the two decides; on a tie the deadline wins (it is armed first), since it ends the whole call.
    if (Number.isFinite(deadline)) this.#arm(deadline, "deadline", reasons.deadline);
    if (Number.isFinite(timeout) && timeout < deadline) this.#arm(timeout, "timeout", reasons.timeout);
  }

  /**
   * Stops the timers. With `followCaller`, the caller's signal keeps aborting this one (so aborting after the call
   * resolved still cancels reading the response body, as with plain fetch); otherwise the link is removed too.
   */
  settle(followCaller: boolean): void {
    for (const timer of this.#timers) clearTimeout(timer);
    if (!followCaller) this.#parent?.removeEventListener("abort", this.#onParentAbort);
  }

  #arm(ms: number, cause: AbortCause, reason: () => unknown): void {
    this.#timers.push(setTimeout(() => this.#abort(cause, reason()), Math.min(Math.max(0, ms), MAX_TIMER)));
  }

  #abort(cause: AbortCause, reason: unknown): void {
    if (this.signal.aborted) return;
    this.cause = cause;
    this.settle(false);
    this.#controller.abort(reason);
  }
}
