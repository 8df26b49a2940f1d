/**
 * What a `scope` function returned, as the text its records are stored under. A string is used as is; a number or
 * bigint becomes its decimal text (`String(value)`), so a user id `42` and `"42"` are the same scope.
 *
 * Anything else is a programming error, thrown on the request rather than guessed at: `undefined` (most often a
 * property read from the wrong object, such as `req.user.id` where the framework's request is `req.raw`) or an empty
 * string would put every tenant in one shared key space, silently; an object or `NaN` has no stable text.
 *
 * @throws {TypeError} naming the `scope` option and what it returned
 */
export function scopeText(value: unknown): string {
  if (typeof value === "string" && value.length > 0) return value;
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  throw new TypeError(
    `Expected \`scope\` to return a string, number or bigint naming the request's principal; it returned ${describe(value)}. ` +
      'For requests that have no principal, return a constant such as "anonymous"; scope(request) reads the ' +
      "framework's own request as request.raw (Express: request.raw.user).",
  );
}

function describe(value: unknown): string {
  if (value === "") return "an empty string";
  if (typeof value === "number") return String(value);
  if (value === null || value === undefined) return String(value);
  return `a value of type ${typeof value === "object" ? (Array.isArray(value) ? "array" : "object") : typeof value}`;
}
