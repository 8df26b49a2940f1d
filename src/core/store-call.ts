import { isOncelyError, StoreError, StoreTimeoutError } from "./errors.js";

/**
 * An error's message without the `[oncely] [store] ` prefix a store already put on it (a missing driver, a store's own
 * failed call), for a message that adds the prefix again around it.
 */
export function unprefixed(store: string, error: unknown): string {
  const message = (error as Error)?.message ?? String(error);
  const prefix = `[oncely] [${store}] `;
  return message.startsWith(prefix) ? message.slice(prefix.length) : message;
}

const SETTLED = Promise.resolve();

/**
 * Runs one store operation, bounded by `timeout` ms. A late result is handed to `onLate` to undo, or dropped: the
 * engine releases a claim that lands after it gave up (claim.ts), and rolls back an open transaction; a claim that
 * lands after a store gave up on it itself lapses with its lease. The time until the call settles or times out is
 * added to `timing.storeDuration`, when given.
 *
 * The timer starts one microtask after the call, and only if the call has not settled by then: an in-memory store's
 * promise is settled when it is returned, and a timer set and cleared around each call was about a tenth of the
 * engine's CPU time per request on the memory store.
 */
export function storeCall<T>(
  store: string,
  operation: string,
  timeout: number,
  call: () => Promise<T>,
  onLate?: (value: T) => void,
  timing?: { storeDuration: number },
): Promise<T> {
  const start = performance.now();
  return new Promise<T>((resolve, reject) => {
    // Pending (undefined), settled (null), timed out (false), or the timer of a call still pending.
    let timer: ReturnType<typeof setTimeout> | null | false | undefined;
    /** Ends the call once, adding its time; false when it had timed out already. */
    const end = () => {
      if (timer === false) return false;
      if (timer) clearTimeout(timer);
      timer = null;
      if (timing) timing.storeDuration += performance.now() - start;
      return true;
    };
    let pending: Promise<T>;
    try {
      pending = call();
    } catch (error) {
      pending = Promise.reject(error);
    }
    pending.then(
      (value) => (end() ? resolve(value) : onLate?.(value)),
      (error: unknown) => end() && reject(asStoreError(store, operation, error)),
    );
    // Runs after the reaction above when the call has already settled, which then needs no timer.
    SETTLED.then(() => {
      if (timer !== undefined) return;
      timer = setTimeout(() => {
        if (end()) reject(new StoreTimeoutError(store, operation, `timed out after ${timeout} ms`));
        timer = false;
      }, timeout);
      timer.unref?.();
    });
  });
}

/** A store operation's failure as the engine reports it: a `StoreError`, unless it is one of oncely's errors already. */
export function asStoreError(store: string, operation: string, error: unknown): Error {
  return isOncelyError(error)
    ? error
    : new StoreError(store, operation, `failed: ${unprefixed(store, error)}`, { cause: error });
}
