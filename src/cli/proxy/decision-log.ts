import { type DecisionLogOptions, decisionFields, decisionLevel } from "../../core/decision-fields.js";
import type { IdempotencyEvent } from "../../core/events.js";
import type { ProxyLogEntry } from "./proxy.js";

// The proxy's log: one JSON line per line of output, on stdout, in the shape of the logging recipe in
// docs/operations.md, "Logging decisions" (`{"time","level","msg","oncely":{decision, route, key_hash, ...}}`, the
// package's `decisionFields`), so the same jq filters read an app's log and the proxy's.

/** Writes one line (the caller adds nothing: the line ends with "\n"). */
export type WriteLine = (line: string) => void;

/** An `onEvent` that writes one JSON line per decision. */
export function logDecisions(write: WriteLine, options: DecisionLogOptions = {}) {
  return function logDecision(event: IdempotencyEvent): void {
    const fields = decisionFields(event, options);
    writeJson(write, { level: decisionLevel(event.type), msg: `oncely ${event.type} ${event.route}`, oncely: fields });
  };
}

/** A line about the proxy itself (listening, an upstream failure, draining), in the same shape. */
export function logProxy(write: WriteLine) {
  return function logEntry(entry: ProxyLogEntry): void {
    writeJson(write, entry);
  };
}

function writeJson(write: WriteLine, entry: Record<string, unknown>): void {
  write(`${JSON.stringify({ time: new Date().toISOString(), ...entry })}\n`);
}

/**
 * Coalesces the lines written within one turn of the event loop into one write: under load a line per decision is
 * a system call per decision, and on a busy machine those show. `flush()` writes what is pending at once.
 */
export function batchedWriter(write: WriteLine): WriteLine & { flush(): void } {
  let pending: string[] = [];
  let scheduled: NodeJS.Immediate | undefined;
  const flush = () => {
    if (scheduled) clearImmediate(scheduled);
    scheduled = undefined;
    if (pending.length === 0) return;
    const text = pending.length === 1 ? pending[0]! : pending.join("");
    pending = [];
    write(text);
  };
  return Object.assign(
    (line: string) => {
      pending.push(line);
      scheduled ??= setImmediate(flush);
    },
    { flush },
  );
}
