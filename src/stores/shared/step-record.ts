import { StoreError } from "../../core/errors.js";
import type { StepRecord } from "../../core/store.js";

/** The most steps a networked store keeps for one run; the engine enforces its own, lower, limit first. */
export const MAX_STORED_STEPS = 1_000;

/** Step names end up in hash fields, JSON paths and attribute paths: the store checks them itself too. */
const STEP_NAME = /^[A-Za-z0-9_.:-]{1,100}$/;
const STATES = new Set<string>(["started", "done", "failed"]);

/** Throws a `TypeError` for a step the engine would never send: a bad name, state, position or value. */
export function checkStep(step: StepRecord): void {
  if (typeof step?.name !== "string" || !STEP_NAME.test(step.name)) {
    throw new TypeError(
      `Expected a step name of 1-100 letters, digits, "_", ".", ":" or "-", got ${JSON.stringify(step?.name)}`,
    );
  }
  if (!STATES.has(step.state)) throw new TypeError(`Expected a step state, got ${JSON.stringify(step.state)}`);
  if (!Number.isSafeInteger(step.seq) || step.seq < 0) {
    throw new TypeError(`Expected a step's seq to be a non-negative integer, got ${JSON.stringify(step.seq)}`);
  }
  if (step.value !== undefined && typeof step.value !== "string") {
    throw new TypeError("Expected a step's value to be JSON text");
  }
}

export function tooManySteps(store: string): StoreError {
  return new StoreError(store, "saveStep", `refused: the run already holds ${MAX_STORED_STEPS} steps`);
}
