import type { StoreConfig } from "../../multiprocess/store-config.js";

/** The environment variable that carries a worker's `StormWorkerConfig` as JSON. */
export const STORM_WORKER_ENV = "ONCELY_CRASH_STORM_WORKER";

/**
 * Where a worker can be told to kill itself (`SIGKILL`, a real kill -9) on the next request that gets there:
 * - `before-claim`: the engine is about to call the store's claim (nothing claimed yet);
 * - `in-handler`: the handler started, before its effect;
 * - `after-effect`: the effect is written and the response captured, `complete` (or the transaction's commit) not
 *   yet called: the window where a non-transactional store can run an effect twice;
 * - `after-complete`: the outcome is stored, the response not yet written to the client.
 */
export const KILL_POINTS = ["before-claim", "in-handler", "after-effect", "after-complete"] as const;
export type KillPoint = (typeof KILL_POINTS)[number];

/** How a worker died: at an armed point, or by the chaos loop's `kill -9` at a moment of its choosing. */
export type KillKind = KillPoint | "random";

export interface StormWorkerConfig {
  store: StoreConfig;
  /** Claim, the handler's ledger write and the stored response in one PostgreSQL transaction. */
  transactional: boolean;
  /** The engine's lease, ms: how long a killed holder's claim blocks its key. */
  lease: number;
  /** The engine's `storeTimeout` and the store's own `timeout`, ms. */
  storeTimeout: number;
  /** PostgreSQL URL and table of the ledger every effect is written to. */
  ledger: { url: string; table: string };
  /** Directory of the per-process window logs (see window-log.ts) and the kill log. */
  logDir: string;
}

/** What the guarded handler answers (and every replay repeats byte for byte). */
export interface EffectBody {
  intent: number;
  key: string;
  /** The id of the ledger row this run wrote. */
  effect: string;
  pid: number;
  slot: number;
}

export type ParentMessage =
  /** Serve as slot `slot` (0-3) on `port` (0: an ephemeral one, the slot's first time). */
  | { type: "listen"; slot: number; port: number }
  | { type: "arm"; point: KillPoint }
  | { type: "disarm" }
  | { type: "stop" };

export type WorkerMessage =
  /** Started, store and ledger connected, not yet listening: a warm spare, for whichever slot loses its process. */
  | { type: "warm"; pid: number }
  | { type: "ready"; port: number; pid: number }
  | { type: "failed"; message: string }
  | { type: "stopped" };
