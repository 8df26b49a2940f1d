import { sortByKey } from "./sort-by-key.js";

/**
 * JSON with object keys sorted at every depth and no whitespace, for a value a body parser already produced (and for
 * `idem.run` inputs), so `{"a":1,"b":2}` and `{ "b": 2, "a": 1 }` fingerprint alike. Array order is kept: it carries
 * meaning. Values that `JSON.stringify` would write as another value are written apart, so they never merge with it:
 * a non-finite number (`1e400` parses to `Infinity`, which `JSON.stringify` writes as `null`), `-0`, and a bigint.
 */
export function canonicalJson(value: unknown): string {
  if (typeof value === "number") return numberText(value);
  if (typeof value === "bigint") return `${value}n`;
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const keys = sortByKey(Object.keys(value), (key) => key);
  const parts: string[] = [];
  for (const key of keys) {
    const item = (value as Record<string, unknown>)[key];
    if (item === undefined || typeof item === "function") continue;
    parts.push(`${JSON.stringify(key)}:${canonicalJson(item)}`);
  }
  return `{${parts.join(",")}}`;
}

function numberText(value: number): string {
  if (Object.is(value, -0)) return "-0";
  return Number.isFinite(value) ? JSON.stringify(value) : String(value);
}
