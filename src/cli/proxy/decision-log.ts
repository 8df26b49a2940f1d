import { hash } from "node:crypto";
import type { IdempotencyEvent, IdempotencyEventType } from "../../core/events.js";
import type { ProxyLogEntry } from "./proxy.js";

// The proxy's log: one JSON line per line of output, on stdout, in the shape of the README's logging recipe
// (`{"time","level","msg","oncely":{decision, route, key_hash, ...}}`), so the same jq filters read an app's log
// and the proxy's. Keys appear as the first 16 hex characters of their SHA-256 unless raw keys are asked for;
// bodies never appear (events do not carry them).

export interface DecisionLogOptions {
  /** Log the Idempotency-Key beside its hash. @default false */
  rawKey?: boolean;
}

/** Writes one line (the caller adds nothing: the line ends with "\n"). */
export type WriteLine = (line: string) => void;

/** An `onEvent` that writes one JSON line per decision. */
export function logDecisions(write: WriteLine, { rawKey = false }: DecisionLogOptions = {}) {
  return function logDecision(event: IdempotencyEvent): void {
    const fields: Record<string, unknown> = {
      decision: event.type,
      route: event.route,
      duration_ms: round(event.duration),
    };
    if (event.key !== undefined) {
      fields.key_hash = hash("sha256", event.key, "hex").slice(0, 16);
      if (rawKey) fields.key = event.key;
    }
    if (event.scope !== undefined) fields.scope_hash = event.scope;
    if (event.status !== undefined) fields.status = event.status;
    if (event.token !== undefined) fields.token = event.token;
    if (event.storeDuration !== undefined) fields.store_duration_ms = round(event.storeDuration);
    if (event.reason !== undefined) fields.reason = event.reason;
    if (event.error !== undefined) fields.error_type = errorType(event.error);
    writeJson(write, { level: levelOf(event.type), msg: `oncely ${event.type} ${event.route}`, oncely: fields });
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

/** `store-error`: oncely could not do its job; `fenced`: a result was not stored. Every other decision is routine. */
function levelOf(type: IdempotencyEventType): "info" | "warn" | "error" {
  return type === "store-error" ? "error" : type === "fenced" ? "warn" : "info";
}

/** The error's code or class name; never its message, which may quote what the request carried. */
function errorType(error: unknown): string {
  const { code, name } = (error ?? {}) as { code?: unknown; name?: unknown };
  return typeof code === "string" ? code : typeof name === "string" ? name : "unknown";
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;

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
