export { type Duration, toMilliseconds } from "./core/duration.js";
export * from "./core/errors.js";
export { defaultFingerprint } from "./core/fingerprint.js";
export { parseIdempotencyKey } from "./core/key.js";
export type { IdempotencyRequest } from "./core/request.js";
export * from "./core/store.js";
export { MemoryStore, type MemoryStoreOptions } from "./stores/memory.js";
