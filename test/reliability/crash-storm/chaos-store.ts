import {
  isTransactionalStore,
  type Store,
  type StoreTransaction,
  type TransactionalStore,
} from "../../../src/core/store.js";
import type { KillSwitch } from "./kill-switch.js";
import type { windowWriter } from "./window-log.js";

/**
 * Wraps the worker's real store so the kill points around it can fire: `before-claim` as a claim starts,
 * `after-effect` as `complete` (or the transaction's commit) starts, `after-complete` once it has returned (the
 * engine writes the response to the client only after that). It also closes the effect's window in the window log
 * when the outcome is stored. Everything else goes straight to the store.
 */
export function chaosStore(store: Store, kill: KillSwitch, windows: ReturnType<typeof windowWriter>): Store {
  // Store ids are hashes; the kill log and the window log speak in keys. Never pruned: a worker lives seconds to
  // minutes between kills, and one id per intent is small.
  const keys = new Map<string, string>();
  const keyOf = (id: string) => keys.get(id) ?? id;
  const stored = (id: string, held: boolean) => {
    if (held) windows.close(keyOf(id));
    else windows.fenced(keyOf(id));
  };

  const wrapped: Store = {
    name: store.name,
    claim(id, fingerprint, options) {
      keys.set(id, options.meta.key);
      kill.at("before-claim", options.meta.key);
      return store.claim(id, fingerprint, options);
    },
    renew: (id, token, lease) => store.renew(id, token, lease),
    async complete(id, token, response, ttl) {
      kill.at("after-effect", keyOf(id));
      const held = await store.complete(id, token, response, ttl);
      stored(id, held);
      kill.at("after-complete", keyOf(id));
      return held;
    },
    release: (id, token) => store.release(id, token),
    get: (id) => store.get(id),
    delete: (id) => store.delete(id),
    list: (options) => store.list(options),
    purgeExpired: (options) => store.purgeExpired(options),
    close: () => store.close(),
  };
  if (!isTransactionalStore(store)) return wrapped;

  const transactional: TransactionalStore = {
    ...wrapped,
    async claimInTransaction(id, fingerprint, options) {
      keys.set(id, options.meta.key);
      kill.at("before-claim", options.meta.key);
      const result = await store.claimInTransaction(id, fingerprint, options);
      if (result.status !== "claimed") return result;
      return { ...result, transaction: chaosTransaction(id, result.transaction) };
    },
  };
  const chaosTransaction = (id: string, transaction: StoreTransaction): StoreTransaction => ({
    client: transaction.client,
    async commit(response, ttl) {
      kill.at("after-effect", keyOf(id));
      await transaction.commit(response, ttl);
      stored(id, true);
      kill.at("after-complete", keyOf(id));
    },
    rollback: () => transaction.rollback(),
  });
  return transactional;
}
