import { type DecisionLogOptions, decisionFields, decisionLevel, type IdempotencyEvent } from "../../src/index.js";

/**
 * An `onEvent` that writes one JSON line per decision to standard output, for a platform that collects stdout
 * (containers, serverless): `{"time":"…","level":"info","msg":"oncely replayed POST /charges","oncely":{…}}`
 *
 * @example
 * const idem = createIdempotency({ store, onEvent: logDecisionsToConsole() });
 * // the raw key as well: logDecisionsToConsole({ rawKey: true })
 */
export function logDecisionsToConsole(options?: DecisionLogOptions) {
  return function logDecision(event: IdempotencyEvent): void {
    const line = {
      time: new Date().toISOString(),
      level: decisionLevel(event.type),
      msg: `oncely ${event.type} ${event.route}`,
      oncely: decisionFields(event, options),
    };
    console.log(JSON.stringify(line));
  };
}
