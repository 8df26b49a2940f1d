/**
 * The engine: `createIdempotency`, `MemoryStore`, the store contract a custom store implements, errors, events (and
 * their log fields) and `deriveKey`. What a framework adapter needs is in `oncely/adapter`.
 *
 * @module oncely
 */
export type { IdempotencyLogger } from "./core/cause-log.js";
export type {
  IdempotencyContext,
  Step,
  StepInfo,
  TransactionClient,
  TransactionClients,
} from "./core/context.js";
export {
  type DecisionFields,
  type DecisionLogOptions,
  decisionFields,
  decisionLevel,
} from "./core/decision-fields.js";
export { deriveKey } from "./core/derive-key.js";
export type { Duration } from "./core/duration.js";
export type { EncryptionOptions } from "./core/encryption.js";
export { createIdempotency, type Idempotency, type RouteGuard } from "./core/engine.js";
export * from "./core/errors.js";
export type { IdempotencyEvent, IdempotencyEventType } from "./core/events.js";
export { defaultFingerprint } from "./core/fingerprint.js";
export type { IdempotencyOptions, RouteOptions, ScopeValue } from "./core/options.js";
export type { RecoverOptions, RecoverReport } from "./core/recover.js";
export type { Replay, ReplayHook } from "./core/replay.js";
export type { IdempotencyRequest } from "./core/request.js";
export type { ResponseData } from "./core/response.js";
export type { RunContext, RunOptions } from "./core/run.js";
export type {
  AggregateOptions,
  ClaimedResult,
  ClaimOptions,
  ClaimResult,
  IdempotencyRecord,
  ListOptions,
  ListPage,
  LocalStepStore,
  RecordMeta,
  RecordState,
  StepRecord,
  StepStore,
  Store,
  StoreAggregate,
  StoredResponse,
  StoredWork,
  StoreTransaction,
  StreamRead,
  StreamRunState,
  StreamStore,
  TransactionalClaimOptions,
  TransactionalClaimResult,
  TransactionalStore,
} from "./core/store.js";
export { MemoryStore, type MemoryStoreOptions } from "./stores/memory/index.js";
export { StoreDriverMissingError } from "./stores/shared/optional-driver.js";
