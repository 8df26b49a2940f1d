import type { ResponseCipher } from "./encryption.js";
import type { IdempotencyEvent, IdempotencyEventType } from "./events.js";
import type { LeaseRenewals } from "./lease-renewals.js";
import type { ReplayCounter } from "./replay-counter.js";
import type { RecordMeta, Store, StoredWork } from "./store.js";
import { storeCall } from "./store-call.js";

/** What every attempt needs to know about the engine it runs in. */
export interface EngineState {
  store: Store;
  storeTimeout: number;
  /** Seals responses before they are stored and opens them for replay, when `encryption` is configured. */
  cipher?: ResponseCipher;
  /** Where events go; absent when nobody listens. */
  events?: EventSink;
  /** Counts replays for the store, where it keeps counts. */
  replays?: ReplayCounter;
  /** Renews the leases of the claims held. */
  renewals: LeaseRenewals;
}

/** The listeners of an engine's events: `onEvent`, the cause log, or both. */
export interface EventSink {
  /**
   * Whether anyone hears events of `type`. The cause log alone (the default) hears only warnings and errors, so a
   * routine decision builds no event object for nobody.
   */
  listens(type: IdempotencyEventType): boolean;
  emit(event: IdempotencyEvent): void;
}

/** One guarded attempt: who it is, where it is stored, and the clock it is timed against. */
export interface Attempt {
  id: string;
  key: string;
  fingerprint: string;
  route: string;
  /** The scope's hash (see record-id.ts), when there is a scope. */
  scope?: string;
  meta: RecordMeta;
  started: number;
  storeDuration: number;
  /** The registered handler and input of a run started by name, kept with a new record. */
  work?: StoredWork;
}

/** Emits one event for an attempt, with its timings, if anyone listens to its type. */
export function emitFor(
  state: EngineState,
  attempt: Attempt,
  type: IdempotencyEventType,
  extra?: Partial<IdempotencyEvent>,
): void {
  const events = state.events;
  if (events === undefined || !events.listens(type)) return;
  const { route, key, scope, storeDuration } = attempt;
  const event: IdempotencyEvent = { type, route, key, duration: performance.now() - attempt.started, storeDuration };
  if (scope !== undefined) event.scope = scope;
  events.emit(extra === undefined ? event : Object.assign(event, extra));
}

/**
 * Runs a store operation, adding its time to the attempt's store time. `extraTime` lengthens the store timeout for
 * an operation that waits on purpose; `onLate` gets a result that arrives after the timeout.
 */
export function timed<T>(
  state: EngineState,
  attempt: Attempt,
  operation: string,
  call: () => Promise<T>,
  extraTime = 0,
  onLate?: (value: T) => void,
): Promise<T> {
  return storeCall(state.store.name, operation, state.storeTimeout + extraTime, call, onLate, attempt);
}
