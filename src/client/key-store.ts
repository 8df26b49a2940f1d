import { type Duration, toMilliseconds } from "../core/duration.js";

/**
 * Where the client keeps the key of each pending intent until the intent gets a final answer, so a retry after a
 * reload or an app restart sends the same key. Methods may be synchronous or return promises.
 */
export interface KeyStore {
  /** The pending key for `intent`, if there is one. */
  get(intent: string): string | undefined | Promise<string | undefined>;
  /** Keeps `key` as the pending key of `intent`. */
  set(intent: string, key: string): void | Promise<void>;
  /** Forgets `intent`'s key: it got a final answer. */
  delete(intent: string): void | Promise<void>;
}

/**
 * Keeps pending keys in memory, for one page or process: two calls with the same intent (a double click) share one
 * key, so the server runs the action once. The default `keyStore` of every client.
 *
 * @example
 * const client = createClient({ keyStore: memoryKeyStore() });
 */
export function memoryKeyStore(): KeyStore {
  // A Map already has get, set and delete with these meanings (its `set` and `delete` return values go unused).
  return new Map<string, string>() as unknown as KeyStore;
}

/**
 * The subset of the Web Storage API the key store uses. `localStorage` and `sessionStorage` fit, and so does React
 * Native's `AsyncStorage` (whose methods return promises).
 */
export interface StorageLike {
  /** The stored value, or null/undefined. */
  getItem(name: string): string | null | undefined | Promise<string | null | undefined>;
  /** Stores `value` under `name`. */
  setItem(name: string, value: string): unknown;
  /** Removes `name`. */
  removeItem(name: string): unknown;
}

/** Options of `storageKeyStore`: the entries' name prefix and how long a pending key stays usable. */
export interface StorageKeyStoreOptions {
  /**
   * Prepended to each intent to name its entry.
   * @default "oncely:key:"
   */
  prefix?: string;
  /**
   * A pending key older than this is forgotten and the intent gets a new one. Match the server's record `ttl`:
   * after it, the server no longer knows the key, so reusing it protects nothing.
   * @default "24h"
   */
  maxAge?: Duration;
  /** The clock, epoch milliseconds; tests inject one. @default Date.now */
  now?: () => number;
}

/**
 * Keeps pending keys in a Web Storage-compatible store, so they survive reloads (`localStorage`) or app restarts
 * (React Native's `AsyncStorage`). Each entry is `{"key": ..., "at": <epoch ms>}` under `prefix + intent`.
 *
 * @param storage `localStorage` when omitted
 * @example
 * const client = createClient({ keyStore: storageKeyStore(localStorage) });
 * await client("/orders", { method: "POST", body, intent: `checkout:${cartId}` });
 */
export function storageKeyStore(storage?: StorageLike, options: StorageKeyStoreOptions = {}): KeyStore {
  const target = storage ?? (globalThis as { localStorage?: StorageLike }).localStorage;
  if (typeof target?.getItem !== "function" || typeof target.setItem !== "function") {
    throw new TypeError("Expected `storage` to be a Storage such as localStorage or AsyncStorage");
  }
  const { prefix = "oncely:key:", now = Date.now } = options;
  if (typeof prefix !== "string") throw new TypeError("Expected `prefix` to be a string");
  const maxAge = toMilliseconds(options.maxAge ?? "24h", "maxAge");
  const remove = (intent: string) => target.removeItem(prefix + intent);

  return {
    async get(intent) {
      const raw = await target.getItem(prefix + intent);
      if (raw == null) return undefined;
      const entry = parseEntry(raw);
      if (entry && now() - entry.at <= maxAge) return entry.key;
      await remove(intent);
      return undefined;
    },
    async set(intent, key) {
      await target.setItem(prefix + intent, JSON.stringify({ key, at: now() }));
    },
    async delete(intent) {
      await remove(intent);
    },
  };
}

/** The entry written by `set`, or `undefined` for anything else (another app's value, a hand edit). */
function parseEntry(raw: string): { key: string; at: number } | undefined {
  try {
    const { key, at } = JSON.parse(raw);
    return typeof key === "string" && typeof at === "number" ? { key, at } : undefined;
  } catch {
    return undefined;
  }
}
