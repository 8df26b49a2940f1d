/** A duration: milliseconds, or a string such as `"500ms"`, `"30s"`, `"10m"`, `"24h"`, `"7d"`. */
export type Duration = number | `${number}${DurationUnit}`;
type DurationUnit = "ms" | "s" | "m" | "h" | "d";

const UNIT_MS: Record<DurationUnit, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;

/**
 * Turns an option value into milliseconds, or throws a `TypeError` naming the option.
 * Validation happens once at setup so a typo fails at boot, not on the first request.
 */
export function toMilliseconds(value: unknown, option: string, { allowZero = false } = {}): number {
  let ms: number | undefined;
  if (typeof value === "number" && Number.isFinite(value)) ms = value;
  else if (typeof value === "string") {
    const match = DURATION.exec(value.trim());
    if (match) ms = Number(match[1]) * UNIT_MS[match[2] as DurationUnit];
  }
  if (ms === undefined || ms < 0 || (!allowZero && ms === 0)) {
    throw new TypeError(
      `Expected \`${option}\` to be a ${allowZero ? "non-negative" : "positive"} duration such as 86400000 or "24h", got ${JSON.stringify(value)}`,
    );
  }
  return Math.round(ms);
}
