import type { Attempt, EngineState } from "./engine-state.js";
import { InFlightError } from "./errors.js";
import type { ResolvedRouteOptions } from "./options.js";
import { type RunContext, runAttempt } from "./run.js";
import type { IdempotencyRecord } from "./store.js";

/** A handler registered with `idem.define(name, handler)`. */
export type RegisteredWork = (input: never, step: RunContext) => unknown;

/** Options of `idem.recover()`. */
export interface RecoverOptions {
  /** The most runs driven in one call. @default 100 */
  limit?: number;
}

/** What one `recover()` call did. */
export interface RecoverReport {
  /** Runs driven to completion (their result is stored; the client's retry replays it). */
  completed: number;
  /** Runs whose handler threw again; they stay claimable, with their steps, for the next retry or `recover()`. */
  failed: number;
  /** Runs still held by a live holder, or whose handler is not registered here. */
  skipped: number;
}

/**
 * Finds runs started by name (`idem.run(key, name, input)`) that were left unfinished with steps recorded (their
 * holder died and its lease lapsed, or a step threw and released them) and drives each to completion from its
 * stored input, resuming at its first unrecorded step.
 */
export async function recoverRuns(
  state: EngineState,
  options: ResolvedRouteOptions,
  handlers: ReadonlyMap<string, RegisteredWork>,
  { limit = 100 }: RecoverOptions = {},
): Promise<RecoverReport> {
  const report: RecoverReport = { completed: 0, failed: 0, skipped: 0 };
  for (const recordState of ["in-flight", "released"] as const) {
    let cursor: string | undefined;
    do {
      const page = await state.store.list({ state: recordState, cursor, limit: 100 });
      cursor = page.cursor;
      for (const record of page.records) {
        if (report.completed + report.failed >= limit) return report;
        if (!unfinished(record)) continue;
        const handler = handlers.get(record.work!.name);
        if (!handler) {
          report.skipped += 1;
          continue;
        }
        try {
          const input = JSON.parse(record.work!.input) as never;
          // A run still held answers in-flight at once: its holder is alive after all.
          const reject = { ...options, onInFlight: "reject" as const };
          await runAttempt(state, reject, attemptFor(record), noDerivedKeys, (step) => handler(input, step));
          report.completed += 1;
        } catch (error) {
          if (error instanceof InFlightError) report.skipped += 1;
          else report.failed += 1;
        }
      }
    } while (cursor);
  }
  return report;
}

/**
 * A run started by name, with steps recorded, not completed. Whether its holder is gone (lease lapsed, or released)
 * is the store's to judge, by its own clock: the claim that follows answers in-flight while the holder lives.
 */
function unfinished(record: IdempotencyRecord): boolean {
  return record.work !== undefined && (record.steps?.length ?? 0) > 0;
}

/** A recovered run's `deriveKey`: its record keeps only the scope's hash, so no key can be derived from the scope. */
function noDerivedKeys(): never {
  throw new TypeError(
    "deriveKey() is not available in a run recover() drives (the scope is not stored); use step keys (s.key)",
  );
}

function attemptFor(record: IdempotencyRecord): Attempt {
  return {
    id: record.id,
    key: record.meta.key,
    fingerprint: record.fingerprint,
    route: record.work!.name,
    scope: record.meta.scope,
    meta: record.meta,
    started: performance.now(),
    storeDuration: 0,
  };
}
