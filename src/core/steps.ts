import type { Step, StepInfo } from "./context.js";
import { hashParts } from "./hash.js";

/** The most steps one run records. */
export const MAX_STEPS = 100;
/** The most JSON bytes one run's step results and terminal errors take together. */
export const MAX_STEP_BYTES = 256 * 1024;

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
