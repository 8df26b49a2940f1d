import type { StoreConfig } from "../multiprocess/store-config.js";

/** The environment variable that carries a crash worker's `WorkerConfig` as JSON. */
export const STEP_WORKER_ENV = "ONCELY_STEP_WORKER";

export interface WorkerConfig {
  store: StoreConfig;
  /** The file every step run is appended to (one JSON `LedgerEntry` a line), written before any crash. */
  ledger: string;
  /** The fake payment service's origin. */
  payments: string;
  /** The engine's lease, ms: short, so a dead holder's run is taken over quickly. */
  lease: number;
  /** The engine's `storeTimeout` and the store's own `timeout`, ms. */
  storeTimeout: number;
}

/** Where a worker kills itself (SIGKILL) during a run. */
export type CrashPoint =
  /** Right after the step's result is recorded. */
  | "after-reserve"
  | "after-charge"
  | "after-email"
  /** Inside `charge`: after the payment service charged, before the step's result is recorded. */
  | "inside-charge"
  /** Inside `step.local("reserve")`: after its row is written, before its transaction commits (PostgreSQL). */
  | "inside-local";

/**
 * - `checkout`: reserve, charge (through the payment service, keyed by the step's key), email.
 * - `checkout-v2`: the same handler after a change that renamed its second step.
 * - `local`: reserve with `step.local` (a row in `localTable`, in the step's transaction), then charge.
 */
export type HandlerName = "checkout" | "checkout-v2" | "local";

export interface RunCommand {
  type: "run";
  /** Matches the answer to the command. */
  ask: number;
  key: string;
  handler: HandlerName;
  amount: number;
  crash?: CrashPoint;
  /** `email` throws an ordinary error (not terminal) in this attempt. */
  failEmail?: boolean;
  /** The payment service declines the card: `charge` throws a `TerminalError`. */
  decline?: boolean;
  /** The table `step.local` writes to (handler `local`). */
  localTable?: string;
}

export type ParentMessage = RunCommand | { type: "record"; ask: number; key: string } | { type: "stop" };

export interface RunError {
  name: string;
  code?: string;
  message: string;
  replayed?: boolean;
}

export type WorkerMessage =
  | { type: "ready"; pid: number }
  | { type: "failed"; message: string }
  | { type: "ran"; ask: number; result?: unknown; error?: RunError }
  | { type: "record"; ask: number; steps: { name: string; state: string; value?: string }[] | null }
  | { type: "stopped" };

/** One run of a step's function, as the ledger keeps it. */
export interface LedgerEntry {
  key: string;
  step: string;
  pid: number;
  resumed: boolean;
}
