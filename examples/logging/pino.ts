import type { Logger } from "pino";
import { type DecisionLogOptions, decisionFields, decisionLevel, type IdempotencyEvent } from "../../src/index.js";

/**
 * An `onEvent` that writes one pino line per decision, the fields under `oncely`:
 * `{"level":30,"time":…,"oncely":{"decision":"replayed","route":"POST /charges","key_hash":"0bafe22156d2698c",…},"msg":"oncely replayed POST /charges"}`
 *
 * @example
 * const logger = pino();
 * const idem = createIdempotency({ store, onEvent: logDecisionsWithPino(logger) });
 * // the raw key as well: logDecisionsWithPino(logger, { rawKey: true })
 */
export function logDecisionsWithPino(logger: Logger, options?: DecisionLogOptions) {
  return function logDecision(event: IdempotencyEvent): void {
    logger[decisionLevel(event.type)](
      { oncely: decisionFields(event, options) },
      `oncely ${event.type} ${event.route}`,
    );
  };
}
