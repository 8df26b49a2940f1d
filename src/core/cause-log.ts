import { decisionLevel } from "./decision-fields.js";
import type { IdempotencyEvent } from "./events.js";

/**
 * Where oncely writes the causes of its failures: `console` (the default), a pino, winston or Fastify logger
 * (`fastify.log`), anything with these two methods. Each call gets one line of text.
 */
export interface IdempotencyLogger {
  /**
   * A result was not stored (`fenced`: the lease is likely shorter than the handler), a full store refused a new
   * key (`store-full`), or a client hung up while its request body was read (`client-aborted`).
   */
  warn(message: string): void;
  /** oncely could not do its job (`store-error`, `check-failed`): the request was answered 5xx or ran unguarded. */
  error(message: string): void;
}

/** The longest the log stays quiet about a cause that keeps happening, ms. */
export const CAUSE_LOG_WINDOW = 10_000;
/** Causes tracked at once; past this, new ones are counted together rather than each written. */
const MAX_CAUSES = 100;
const OTHER_CAUSES = "[oncely] more distinct failures than the log tracks at once; set onEvent to see each";

interface Tracked {
  level: "warn" | "error";
  repeats: number;
  timer: ReturnType<typeof setTimeout>;
}

/** Writes failures to the server's log, one line per distinct cause per window, with a count of the repeats. */
export interface CauseLog {
  /** Takes every event; writes those `decisionLevel` rates `warn` or `error`. */
  write(event: IdempotencyEvent): void;
  /** Writes the repeats counted so far and stops the timers. */
  close(): void;
}

/**
 * A cause log on `logger`. The first time a cause (the line's text) is seen it is written at once; repeats within
 * `window` ms are counted, and written as one line when the window ends, so an outage hit by every request writes a
 * line per cause every `window`, not one per request.
 */
export function createCauseLog(logger: IdempotencyLogger, window = CAUSE_LOG_WINDOW): CauseLog {
  const tracked = new Map<string, Tracked>();
  const write = (level: "warn" | "error", line: string) => {
    try {
      logger[level](line);
    } catch {
      // A failing logger must not fail the request it logs.
    }
  };
  const endWindow = (line: string) => {
    const entry = tracked.get(line);
    if (!entry) return;
    if (entry.repeats === 0) return void tracked.delete(line);
    write(entry.level, `${line} (${repeatsText(entry.repeats)} in the last ${window / 1000} s)`);
    entry.repeats = 0;
    entry.timer = startTimer(line);
  };
  const startTimer = (line: string) => {
    const timer = setTimeout(() => endWindow(line), window);
    timer.unref?.();
    return timer;
  };

  return {
    write(event) {
      const level = decisionLevel(event.type);
      if (level === "info") return;
      let line = causeLine(event);
      if (!tracked.has(line) && tracked.size >= MAX_CAUSES) line = OTHER_CAUSES;
      const entry = tracked.get(line);
      if (entry) {
        entry.repeats++;
        return;
      }
      tracked.set(line, { level, repeats: 0, timer: startTimer(line) });
      write(level, line);
    },
    close() {
      for (const [line, entry] of tracked) {
        clearTimeout(entry.timer);
        if (entry.repeats > 0) write(entry.level, `${line} (${repeatsText(entry.repeats)} before close)`);
      }
      tracked.clear();
    },
  };
}

/**
 * The line for an event. A store's error names the store and operation and keeps the driver's message (host and port
 * included: this is the operator's log); it leaves the route out, so one outage is one cause on every route.
 */
function causeLine(event: IdempotencyEvent): string {
  const { error, reason, route, type } = event;
  if (type === "store-error" && error instanceof Error && error.message.startsWith("[oncely]")) return error.message;
  const cause = error instanceof Error ? `${error.name}: ${error.message}` : error === undefined ? "" : String(error);
  return `[oncely] ${type} on ${route}${reason ? `: ${reason}` : ""}${cause ? `: ${cause}` : ""}`;
}

const repeatsText = (count: number) => (count === 1 ? "once more" : `${count} more times`);
