import type { Step, StepInfo, TransactionClient } from "./context.js";
import { type Attempt, type EngineState, timed } from "./engine-state.js";
import { ClaimLostError, StepLimitError, StepMismatchError, TerminalError } from "./errors.js";
import { MAX_STEP_BYTES, MAX_STEPS, stepKey } from "./steps.js";
import { isLocalStepStore, isStepStore, type StepRecord } from "./store.js";

/** What the steps of one attempt need from its claim. */
export interface StepClaim {
  readonly token: number;
  readonly runId?: string;
  readonly recorded?: readonly StepRecord[];
  readonly signal: AbortSignal;
  /** Set on transactional routes, where steps are refused: a rolled-back run would forget its run id. */
  readonly transactional: boolean;
}

/** Step names are kept in the record and in SQL JSON paths: short, and plain. */
const STEP_NAME = /^[A-Za-z0-9_.:-]{1,100}$/;

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
