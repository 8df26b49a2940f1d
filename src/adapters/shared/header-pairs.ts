/** Response headers as `getHeaders()` gives them (Node.js, Fastify, Koa): values may be numbers or arrays. */
export type HeaderRecord = Readonly<Record<string, string | number | readonly string[] | undefined>>;

/** Response headers as the engine lists them: lower-case names, one pair per value, in order. */
export function headerPairs(headers: HeaderRecord): [string, string][] {
  const pairs: [string, string][] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    if (Array.isArray(value)) for (const item of value) pairs.push([lower, item]);
    else pairs.push([lower, String(value)]);
  }
  return pairs;
}

/** The engine's header pairs grouped by name, repeats as arrays, as frameworks' `header(name, value)` take them. */
export function groupHeaders(pairs: readonly (readonly [string, string])[]): Record<string, string | string[]> {
  const grouped: Record<string, string | string[]> = {};
  for (const [name, value] of pairs) {
    const existing = grouped[name];
    grouped[name] = existing === undefined ? value : Array.isArray(existing) ? [...existing, value] : [existing, value];
  }
  return grouped;
}
