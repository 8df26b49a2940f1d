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

/**
 * Runs one store operation, bounded by `timeout` ms. A late result is dropped: a claim that lands after we gave up
 * lapses with its lease, so the key is never held longer than that. What cannot lapse on its own (an open
 * transaction) is handed to `onLate` to undo.
 */
export function storeCall<T>(
  store: string,
  operation: string,
  timeout: number,
  call: () => Promise<T>,
  onLate?: (value: T) => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      reject(new StoreTimeoutError(store, operation, `timed out after ${timeout} ms`));
    }, timeout);
    timer.unref?.();
    let pending: Promise<T>;
    try {
      pending = call();
    } catch (error) {
      pending = Promise.reject(error);
    }
    pending.then(
      (value) => {
        clearTimeout(timer);
        if (timedOut) onLate?.(value);
        else resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(
          isOncelyError(error)
            ? error
            : new StoreError(store, operation, `failed: ${unprefixed(store, error)}`, { cause: error }),
        );
      },
    );
  });
}
