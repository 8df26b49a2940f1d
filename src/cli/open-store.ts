import { StoreError } from "../core/errors.js";
import type { Store } from "../core/store.js";
import { loadStoreDriver, STORES } from "../stores/registry.js";
import { scrubSecrets } from "../stores/shared/redact-url.js";
import { type StoreSpec, StoreUrlError, storeUrlSecrets } from "./store-url.js";

export interface OpenStoreOptions {
  /** The per-operation timeout for a URL that sets none, ms. @default the store's own (1000) */
  timeout?: number;
  /**
   * When false, a SQLite file that does not exist is an error instead of being created: an operator's tool should
   * not leave an empty database behind a typo.
   * @default true
   */
  create?: boolean;
  /** The URL the spec came from, for messages (already redacted). */
  url?: string;
}

/**
 * Creates the store a parsed store URL names. The driver is loaded here, so a missing package fails now with a
 * `StoreDriverMissingError` rather than at the first operation; no connection is opened yet (stores connect lazily).
 *
 * @throws {StoreDriverMissingError} when the store's driver package is not installed
 * @throws {StoreUrlError} when the store refuses an option from the URL (a table name, a prefix)
 * @throws {StoreError} when `create: false` and the store's file (SQLite) does not exist
 * @example
 * const store = await openStore(parseStoreUrl("sqlite:./oncely.db"), { create: false });
 */
export async function openStore(spec: StoreSpec, options: OpenStoreOptions = {}): Promise<Store> {
  const entry = STORES.find((candidate) => candidate.name === spec.kind);
  if (!entry) throw new StoreUrlError(options.url ?? spec.kind, `no store is named "${spec.kind}"`);
  await loadStoreDriver(entry);
  if (options.create === false && entry.existing?.(spec.options) === false) {
    throw new StoreError(entry.name, "open", `failed: no database file at ${(spec.options as { path?: string }).path}`);
  }
  const timeout = options.timeout === undefined || entry.name === "memory" ? {} : { timeout: options.timeout };
  try {
    return await entry.create({ ...timeout, ...spec.options });
  } catch (error) {
    // A store's constructor validates what the URL carried (table, prefix): that is a bad URL, not a failing store.
    // The store names the value it refused, which came from the URL and may hold what the author meant as a password.
    if (error instanceof TypeError) {
      const reason = options.url ? scrubSecrets(error.message, storeUrlSecrets(options.url)) : error.message;
      throw new StoreUrlError(options.url ?? spec.kind, reason);
    }
    throw error;
  }
}
