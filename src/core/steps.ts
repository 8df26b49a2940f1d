import { hashParts } from "./hash.js";

/** The most steps one run records. */
export const MAX_STEPS = 100;
/** The most JSON bytes one run's step results and terminal errors take together. */
export const MAX_STEP_BYTES = 256 * 1024;

/** A step's downstream key: from the run id (unique per record, kept across takeovers) and the step name. */
export function stepKey(runId: string, name: string): string {
  return `oncely-step-${hashParts(["oncely:step:v1", runId, name])}`;
}
