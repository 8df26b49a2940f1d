/**
 * For authors of a framework adapter: the engine's per-request input and decision, the response an adapter
 * captures, and the key parser. An app never needs these; `oncely` and the framework's subpath are enough. How an
 * adapter uses them: ARCHITECTURE.md, "A request's path".
 *
 * @module oncely/adapter
 */
export type { AdapterAbilities } from "../core/engine.js";
export type { CapturedResponse, Decision, GuardInput, StreamingDecision } from "../core/guard.js";
export { parseIdempotencyKey } from "../core/key.js";
export type { StreamedResponse } from "../core/response.js";
export type { StreamCapture } from "../core/stream-recorder.js";
