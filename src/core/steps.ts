import type { Attempt, EngineState } from "./claim-flow.js";
import type { TransactionClient } from "./context.js";
import { hashParts } from "./hash.js";
import type { StepRecord } from "./store.js";

/** What a step's function is given. */
export interface StepInfo {
  /** The step's name. */
  readonly name: string;
  /**
   * A key for the step's downstream call (a payment provider's Idempotency-Key, an email's Message-ID): derived from
   * the run and the step name, the same on every retry and after a takeover, never the caller's own key.
   */
  readonly key: string;
  /** Aborts when this run loses its claim: the step's result could then not be recorded. */
  readonly signal: AbortSignal;
  /** True when an earlier attempt started this step and may have done its effect before it died. */
  readonly resumed: boolean;
}

/**
 * Runs `fn` once per (run, name) and records its JSON result; on a retry of the run a recorded step returns its
 * result without running. The result is always the JSON copy, on the first run as on retries.
 */
export interface Step {
  <T>(name: string, fn: (step: StepInfo) => T | Promise<T>): Promise<T>;
  /**
   * Runs `fn` inside a transaction of the store's own database and records the step in that same transaction:
   * its writes and its checkpoint commit together or not at all (PostgreSQL store).
   * @example await step.local("reserve", (tx) => tx.query("UPDATE stock SET held = held + 1 WHERE sku = $1", [sku]));
   */
  local<T>(name: string, fn: (transaction: TransactionClient, step: StepInfo) => T | Promise<T>): Promise<T>;
}

/** The most steps one run records. */
export const MAX_STEPS = 100;
/** The most JSON bytes one run's step results and terminal errors take together. */
export const MAX_STEP_BYTES = 256 * 1024;

/** What the steps of one attempt need from its claim. */
export interface StepClaim {
  readonly token: number;
  readonly runId?: string;
  readonly recorded?: readonly StepRecord[];
  readonly signal: AbortSignal;
  /** Set on transactional routes, where steps are refused: a rolled-back run would forget its run id. */
  readonly transactional: boolean;
}

/**
 * The `step` of a claimed attempt, made on first use (most handlers never take a step): the run id and recorded
 * steps come from the claim, the abort signal from its holder.
 */
export function lazyStep(
  state: EngineState,
  attempt: Attempt,
  outcome: { token: number; runId?: string; steps?: readonly StepRecord[]; transaction?: unknown },
  claim: { readonly signal: AbortSignal },
): () => Step {
  let step: Step | undefined;
  return () => {
    step ??= deferredStep(async () => {
      const { createStep } = await import("./step-runner.js");
      return createStep(state, attempt, {
        token: outcome.token,
        runId: outcome.runId,
        recorded: outcome.steps,
        signal: claim.signal,
        transactional: outcome.transaction !== undefined,
      });
    });
    return step;
  };
}

/** A `step` whose implementation is loaded by its first call; calls keep their order, as each awaits the same load. */
function deferredStep(load: () => Promise<Step>): Step {
  let loading: Promise<Step> | undefined;
  const made = () => (loading ??= load());
  const step = async <T>(name: string, fn: (step: StepInfo) => T | Promise<T>): Promise<T> => (await made())(name, fn);
  step.local = async <T>(name: string, fn: (transaction: TransactionClient, step: StepInfo) => T | Promise<T>) =>
    (await made()).local<T>(name, fn);
  return step;
}

/** A step's downstream key: from the run id (unique per record, kept across takeovers) and the step name. */
export function stepKey(runId: string, name: string): string {
  return `oncely-step-${hashParts(["oncely:step:v1", runId, name])}`;
}

/**
 * The `step` of work that runs without a claim (`failOpen` while the store is down): every step runs, nothing is
 * recorded, and a step's key falls back to one derived from the record id.
 */
export function unrecordedStep(id: string): Step {
  const signal = new AbortController().signal;
  const step = async <T>(name: string, fn: (step: StepInfo) => T | Promise<T>): Promise<T> =>
    fn({ name, key: stepKey(id, name), signal, resumed: false });
  step.local = async (name: string): Promise<never> => {
    throw new TypeError(`step.local("${name}") needs a claim, and the store failed (failOpen)`);
  };
  return step;
}
