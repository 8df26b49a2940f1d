import type { Store } from "../../core/store.js";

/**
 * What a health probe found. The endpoint answers only `status` (any client can ask, and the store's name, address
 * and error are the operator's business); the rest goes to the proxy's log.
 */
export interface HealthReport {
  /** `ok` (200); `unavailable` when the store cannot be read, `draining` while shutting down (503). */
  status: "ok" | "unavailable" | "draining";
  /** The store's name (`redis`, `sqlite`, ...). */
  store: string;
  /** Milliseconds the store took to answer the probe. */
  storeMs?: number;
  /** Why the store is unavailable: its error's message, one line. */
  error?: string;
}

/** The id the probe reads: no record is ever stored under it (ids are hashes), so the read finds nothing. */
const PROBE_ID = "oncely-proxy-health-probe";

/**
 * Reads one record id from the store, bounded by `timeout`: the store answering at all is what the proxy needs to
 * guard requests.
 */
export async function checkHealth(store: Store, timeout: number, draining: boolean): Promise<HealthReport> {
  if (draining) return { status: "draining", store: store.name };
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      store.get(PROBE_ID),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeout} ms`)), timeout);
        timer.unref();
      }),
    ]);
    return { status: "ok", store: store.name, storeMs: Math.round((performance.now() - started) * 1000) / 1000 };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { status: "unavailable", store: store.name, error: message.replace(/\s*\n\s*/g, " ") };
  } finally {
    clearTimeout(timer);
  }
}
