import type { Store } from "../../src/core/store.js";

/**
 * Resolves once `condition` holds (it may be async), checking every few milliseconds; rejects after `timeout` ms,
 * naming `what` it waited for. Tests wait for what they expect to happen, never for a fixed time.
 */
export async function until(
  condition: () => boolean | Promise<boolean>,
  what = "the condition",
  timeout = 5_000,
): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Resolves once `store` holds an in-flight record for the client's `key`: the first request with it is running. */
export function untilInFlight(store: Store, key: string): Promise<void> {
  return until(
    async () =>
      (await store.list({ limit: 1_000 })).records.some(
        (record) => record.meta.key === key && record.state === "in-flight",
      ),
    `a request with key ${key} to be running`,
  );
}
