import { isOncelyError, StoreError, StoreTimeoutError } from "./errors.js";

/**
 * Runs one store operation, bounded by `timeout` ms. A late result is dropped: a claim that lands after we gave up
 * lapses with its lease, so the key is never held longer than that.
 */
export function storeCall<T>(store: string, operation: string, timeout: number, call: () => Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new StoreTimeoutError(store, operation, `timed out after ${timeout} ms`)),
      timeout,
    );
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
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(
          isOncelyError(error)
            ? error
            : new StoreError(store, operation, `failed: ${(error as Error)?.message ?? String(error)}`, {
                cause: error,
              }),
        );
      },
    );
  });
}
