import type { StoreConfig } from "./store-config.js";

/** The environment variable that carries a worker's `WorkerConfig` as JSON. */
export const WORKER_CONFIG_ENV = "ONCELY_MULTIPROCESS_WORKER";

export interface WorkerConfig {
  /** The worker's number (0-3), named in every response body it produces. */
  worker: number;
  store: StoreConfig;
  /** How long the guarded handler works before answering, so duplicates of a request really overlap. */
  handlerMs: number;
  /** The engine's `storeTimeout` and the store's own `timeout`, ms. */
  storeTimeout: number;
}

/** One run of the guarded handler: the effect the test counts. */
export interface Execution {
  key: string;
  pid: number;
}

/** The body the guarded handler answers with (and every replay repeats byte for byte). */
export interface HandlerBody {
  key: string;
  worker: number;
  pid: number;
}

export type ParentMessage = { type: "drain" } | { type: "stop" };

export type WorkerMessage =
  | { type: "ready"; port: number; pid: number }
  | { type: "failed"; message: string }
  /** The executions since the last drain, and how many times each engine event type was emitted. */
  | { type: "drained"; executions: Execution[]; events: Record<string, number> }
  | { type: "stopped" };
