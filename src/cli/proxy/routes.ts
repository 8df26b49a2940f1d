import { routingForms } from "./target.js";

// Which requests the proxy guards: "METHOD /path/pattern" rules, matched in the order given, first match wins.
//
// Patterns are matched segment by segment against the request path in its routing forms (see target.ts: case,
// doubled and trailing slashes ignored, an escaped "/" kept and decoded, as some router would), without the query
// string: a literal segment matches itself, `*` matches exactly one non-empty segment, and a final `**` matches one
// or more remaining segments ("/charges/**" matches "/charges/a" and "/charges/a/capture", not "/charges").

/** A parsed route rule: the method it guards, its pattern, and the pattern as written (the recorded route name). */
export interface RoutePattern {
  /** Upper-case method. */
  method: string;
  /** The path pattern, e.g. `/charges/*`. */
  pattern: string;
  /** `METHOD /pattern`: what events, logs and records name the route. */
  name: string;
  /** True when `path` (no query string) matches the pattern, in the routing form of both. */
  matches(path: string): boolean;
}

/** Thrown when a route rule cannot be parsed; the message is one line naming the rule. */
export class RoutePatternError extends Error {
  override readonly name = "RoutePatternError";
}

const METHOD = /^[A-Z][A-Z0-9-]*$/;

/**
 * Parses `"POST /charges/*"`.
 *
 * @throws {RoutePatternError} when the rule is not a method and a path pattern starting with "/"
 * @example parseRoutePattern("POST /charges/*").matches("/charges/ch_1") // true
 */
export function parseRoutePattern(rule: string): RoutePattern {
  const parts = typeof rule === "string" ? rule.trim().split(/\s+/) : [];
  if (parts.length !== 2) {
    throw new RoutePatternError(`route ${JSON.stringify(rule)}: expected "METHOD /path", e.g. "POST /charges/*"`);
  }
  const method = parts[0]!.toUpperCase();
  const pattern = parts[1]!;
  if (!METHOD.test(method)) throw new RoutePatternError(`route ${JSON.stringify(rule)}: "${parts[0]}" is not a method`);
  if (!pattern.startsWith("/") || pattern.includes("?") || pattern.includes("#")) {
    throw new RoutePatternError(
      `route ${JSON.stringify(rule)}: the path pattern must start with "/" and carry no query string`,
    );
  }
  const segments = pattern.split("/").slice(1);
  segments.forEach((segment, index) => {
    if (segment === "**" && index !== segments.length - 1) {
      throw new RoutePatternError(`route ${JSON.stringify(rule)}: "**" may only end a pattern`);
    }
    if (segment !== "*" && segment !== "**" && segment.includes("*")) {
      throw new RoutePatternError(
        `route ${JSON.stringify(rule)}: "*" stands for a whole segment ("/charges/*"), not part of one`,
      );
    }
  });
  const test = compile(routingForms(pattern)[0]!.split("/").slice(1));
  const matches = (path: string) => routingForms(path).some(test);
  return { method, pattern, name: `${method} ${pattern}`, matches };
}

function compile(segments: readonly string[]): (path: string) => boolean {
  const rest = segments.at(-1) === "**";
  const fixed = rest ? segments.slice(0, -1) : segments;
  if (!segments.some((segment) => segment === "*" || segment === "**")) {
    const literal = `/${segments.join("/")}`;
    return (path) => path === literal;
  }
  return (path) => {
    const actual = path.split("/").slice(1);
    if (rest ? actual.length <= fixed.length : actual.length !== fixed.length) return false;
    if (rest && actual.slice(fixed.length).every((segment) => segment === "")) return false;
    for (let i = 0; i < fixed.length; i++) {
      const want = fixed[i]!;
      if (want === "*" ? actual[i] === "" : actual[i] !== want) return false;
    }
    return true;
  };
}

/** The first rule in `routes` that matches a request, or `undefined`. */
export function findRoute<R extends { pattern: RoutePattern }>(
  routes: readonly R[],
  method: string,
  path: string,
): R | undefined {
  for (const route of routes) {
    if (route.pattern.method === method && route.pattern.matches(path)) return route;
  }
  return undefined;
}
