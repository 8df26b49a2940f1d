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

const PENDING = 0;
const SETTLED = 1;
const TIMED_OUT = 2;

const SETTLED_PROMISE = Promise.resolve();

/**
 * Runs one store operation, bounded by `timeout` ms. A late result is dropped: a claim that lands after we gave up
 * lapses with its lease, so the key is never held longer than that. What cannot lapse on its own (an open
 * transaction) is handed to `onLate` to undo. The time until the call settles or times out is added to
 * `timing.storeDuration`, when given.
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
  const start = timing === undefined ? 0 : performance.now();
  let pending: Promise<T>;
  try {
    pending = call();
  } catch (error) {
    if (timing !== undefined) timing.storeDuration += performance.now() - start;
    return Promise.reject(failure(store, operation, error));
  }
  return new Promise<T>((resolve, reject) => {
    let state = PENDING;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const settle = () => {
      state = SETTLED;
      if (timer !== undefined) clearTimeout(timer);
      if (timing !== undefined) timing.storeDuration += performance.now() - start;
    };
    pending.then(
      (value) => {
        if (state === TIMED_OUT) return onLate?.(value);
        settle();
        resolve(value);
      },
      (error: unknown) => {
        if (state === TIMED_OUT) return;
        settle();
        reject(failure(store, operation, error));
      },
    );
    // Runs after the reaction above when `pending` has already settled, which then needs no timer.
    SETTLED_PROMISE.then(() => {
      if (state !== PENDING) return;
      timer = setTimeout(() => {
        state = TIMED_OUT;
        if (timing !== undefined) timing.storeDuration += performance.now() - start;
        reject(new StoreTimeoutError(store, operation, `timed out after ${timeout} ms`));
      }, timeout);
      timer.unref?.();
    });
  });
}

function failure(store: string, operation: string, error: unknown): Error {
  return isOncelyError(error)
    ? error
    : new StoreError(store, operation, `failed: ${unprefixed(store, error)}`, { cause: error });
}
