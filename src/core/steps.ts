import type { Attempt, EngineState } from "./claim-flow.js";
import { timed } from "./claim-flow.js";
import type { TransactionClient } from "./context.js";
import { ClaimLostError, StepLimitError, StepMismatchError, TerminalError } from "./errors.js";
import { hashParts } from "./hash.js";
import { isLocalStepStore, isStepStore, type StepRecord } from "./store.js";

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
/** Step names are kept in the record and in SQL JSON paths: short, and plain. */
const STEP_NAME = /^[A-Za-z0-9_.:-]{1,100}$/;

/** What the steps of one attempt need from its claim. */
export interface StepClaim {
  readonly token: number;
  readonly runId?: string;
  readonly recorded?: readonly StepRecord[];
  readonly signal: AbortSignal;
  /** Set on transactional routes, where steps are refused: a rolled-back run would forget its run id. */
  readonly transactional: boolean;
}

/** Makes the `step` function of one attempt. */
export function createStep(state: EngineState, attempt: Attempt, claim: StepClaim): Step {
  const recorded = new Map((claim.recorded ?? []).map((step) => [step.name, step]));
  const bySeq = new Map((claim.recorded ?? []).map((step) => [step.seq, step]));
  const used = new Set<string>();
  let bytes = 0;
  for (const step of claim.recorded ?? []) bytes += step.value?.length ?? 0;
  let next = 0;

  const save = async (step: StepRecord) => {
    const store = state.store;
    if (!isStepStore(store)) throw unsupported(store.name);
    const held = await timed(state, attempt, "saveStep", () => store.saveStep(attempt.id, claim.token, step));
    if (!held) throw lost(attempt, step.name);
  };

  /** Checks the call against the run's record; returns the step's recorded state, if any, and its position. */
  const enter = (name: string) => {
    if (typeof name !== "string" || !STEP_NAME.test(name)) {
      throw new TypeError(
        `Expected a step name of 1-100 letters, digits, "_", ".", ":" or "-", got ${JSON.stringify(name)}`,
      );
    }
    if (claim.transactional) {
      throw new TypeError("step() is not available on a transactional route: its writes already commit all or nothing");
    }
    if (!isStepStore(state.store)) throw unsupported(state.store.name);
    if (used.has(name)) throw new TypeError(`Step "${name}" was already used in this run; step names must be unique`);
    used.add(name);
    const seq = next++;
    if (seq >= MAX_STEPS) throw new StepLimitError(`A run records at most ${MAX_STEPS} steps`, { key: attempt.key });
    const prior = recorded.get(name);
    const occupant = bySeq.get(seq);
    if ((prior && prior.seq !== seq) || (!prior && occupant)) {
      const was = occupant ? `"${occupant.name}"` : "no step";
      throw new StepMismatchError(
        `Step "${name}" is step ${seq + 1} of this run, but the recorded run has ${was} there; a changed handler cannot resume a run recorded by another`,
        { key: attempt.key, route: attempt.route },
      );
    }
    return { seq, prior };
  };

  const info = (name: string, resumed: boolean): StepInfo => ({
    name,
    key: stepKey(claim.runId ?? attempt.id, name),
    signal: claim.signal,
    resumed,
  });

  /** Records the step's outcome: its result, or a terminal error (rethrown); any other error is rethrown as is. */
  const settle = async <T>(name: string, seq: number, run: () => Promise<T>): Promise<T> => {
    let value: T;
    try {
      value = await run();
    } catch (error) {
      if (error instanceof TerminalError) {
        const recordedError = JSON.stringify({ message: error.message, details: error.details });
        await save({ name, seq, state: "failed", value: charge(recordedError) });
      }
      throw error;
    }
    const json = value === undefined ? undefined : JSON.stringify(value);
    await save({ name, seq, state: "done", ...(json === undefined ? {} : { value: charge(json) }) });
    return parse(json) as T;
  };

  const charge = (json: string) => {
    bytes += json.length;
    if (bytes > MAX_STEP_BYTES) {
      throw new StepLimitError(`A run's step results take at most ${MAX_STEP_BYTES} bytes`, { key: attempt.key });
    }
    return json;
  };

  const step = async <T>(name: string, fn: (step: StepInfo) => T | Promise<T>): Promise<T> => {
    const { seq, prior } = enter(name);
    if (prior && prior.state !== "started") return replay(prior) as T;
    if (!prior) await save({ name, seq, state: "started" });
    const details = info(name, prior !== undefined);
    return settle(name, seq, async () => fn(details));
  };

  step.local = async <T>(
    name: string,
    fn: (transaction: TransactionClient, step: StepInfo) => T | Promise<T>,
  ): Promise<T> => {
    const { seq, prior } = enter(name);
    if (prior && prior.state !== "started") return replay(prior) as T;
    const store = state.store;
    if (!isLocalStepStore(store)) {
      throw new TypeError(
        `step.local() needs a store that runs steps in its own transactions (PostgreSQL), not ${store.name}`,
      );
    }
    const details = info(name, prior !== undefined);
    let json: string | undefined;
    let held: boolean;
    try {
      held = await store.runLocalStep(attempt.id, claim.token, { name, seq }, async (transaction) => {
        const value = await fn(transaction as TransactionClient, details);
        json = value === undefined ? undefined : charge(JSON.stringify(value));
        return json;
      });
    } catch (error) {
      // The transaction rolled back; a terminal error is still recorded, outside it, so retries get it back.
      if (error instanceof TerminalError) await settle(name, seq, () => Promise.reject(error));
      throw error;
    }
    if (!held) throw lost(attempt, name);
    return parse(json) as T;
  };

  return step;
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
    step ??= createStep(state, attempt, {
      token: outcome.token,
      runId: outcome.runId,
      recorded: outcome.steps,
      signal: claim.signal,
      transactional: outcome.transaction !== undefined,
    });
    return step;
  };
}

/** A step's downstream key: from the run id (unique per record, kept across takeovers) and the step name. */
export function stepKey(runId: string, name: string): string {
  return `oncely-step-${hashParts(["oncely:step:v1", runId, name])}`;
}

function replay(step: StepRecord): unknown {
  if (step.state === "done") return parse(step.value);
  const { message, details } = JSON.parse(step.value ?? "{}") as { message?: string; details?: unknown };
  throw new TerminalError(message ?? "The step failed", { details, replayed: true });
}

function parse(json: string | undefined): unknown {
  return json === undefined ? undefined : JSON.parse(json);
}

function lost(attempt: Attempt, name: string): ClaimLostError {
  return new ClaimLostError(`Another request took over this run before step "${name}" was recorded`, {
    key: attempt.key,
    route: attempt.route,
  });
}

function unsupported(store: string): TypeError {
  return new TypeError(`The ${store} store does not record steps; step() needs a store with saveStep()`);
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
