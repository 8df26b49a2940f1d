/**
 * A one-line progress report on a terminal for long store work (`stats`, `purge`, `list`): how many records so far
 * and at what rate, redrawn in place at most every 100 ms and erased when the work ends, so what the command prints
 * afterwards is exactly what it prints without a terminal.
 */
export interface Progress {
  /** The running total (records read or deleted). */
  update(count: number): void;
  /** Erases the line. */
  done(): void;
}

/** A progress that shows nothing: off the terminal, and with `--json`. */
export const SILENT: Progress = { update() {}, done() {} };

const REDRAW_MS = 100;

/**
 * Reports on `stream` as `<count> <noun> <verb> (<rate>/s)`. `now` is a clock in ms (injectable for tests).
 *
 * @example
 * const shown = progress(process.stderr, "records", "read");
 * shown.update(12_000); // "12,000 records read (4,000/s)"
 */
export function progress(
  stream: { write(text: string): unknown },
  noun: string,
  verb: string,
  now: () => number = performance.now.bind(performance),
): Progress {
  const started = now();
  let drawn = Number.NEGATIVE_INFINITY;
  let shown = false;
  return {
    update(count) {
      const at = now();
      if (at - drawn < REDRAW_MS) return;
      drawn = at;
      const seconds = (at - started) / 1000;
      const rate = seconds > 0 ? ` (${Math.round(count / seconds).toLocaleString("en-US")}/s)` : "";
      stream.write(`\r\x1b[K${count.toLocaleString("en-US")} ${noun} ${verb}${rate}`);
      shown = true;
    },
    done() {
      if (shown) stream.write("\r\x1b[K");
      shown = false;
    },
  };
}
