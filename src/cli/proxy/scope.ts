import { hash } from "node:crypto";
import type { IdempotencyRequest } from "../../core/request.js";
import { headerValue } from "../../core/request.js";

// The proxy's scope: who a stored response may be replayed to. A replay must never reach a caller who could not have
// made the original request, and the proxy does not know who may make which request: the upstream does, from the
// credential it checks. So by default a record belongs to (scope header, credential): an account id alone (a header
// anyone can send, which the upstream checks against the token) never lets a caller without the token see the
// account's stored answer, and the upstream's refusal of that caller is never stored under the account.

/**
 * The scope of a request that carries neither the scope header nor a credential. Every such caller is the same
 * caller to the upstream, so they share one scope; NUL never occurs in a header value, so no header spells it.
 */
const ANONYMOUS = "\u0000anonymous";

/** The credential the proxy scopes by when none is configured: the `Authorization` header. */
export const DEFAULT_CREDENTIALS: readonly string[] = ["authorization"];

/**
 * The scope function for a route: the scope header's value as is when the request carries no credential (so
 * `oncely inspect KEY --scope VALUE` finds it), otherwise that value and a SHA-256 of the credentials, joined by a
 * character no header value can hold; a request with neither is in the one anonymous scope. The engine stores and
 * logs only a hash of what this returns.
 *
 * @param scopeHeader the header naming the principal (lower-case), if any
 * @param credentials lower-case header names, or `cookie:NAME` for one cookie of the `Cookie` header
 * @returns `undefined` when nothing scopes the route (no scope header, no credentials configured)
 */
export function proxyScope(
  scopeHeader: string | undefined,
  credentials: readonly string[],
): ((request: IdempotencyRequest) => string) | undefined {
  if (!scopeHeader && credentials.length === 0) return undefined;
  const readers = credentials.map(credentialReader);
  return function scopeOf(request) {
    const principal = scopeHeader ? headerValue(request, scopeHeader) : undefined;
    const values = readers.map((read) => read(request) ?? null);
    if (values.every((value) => value === null)) return principal ?? ANONYMOUS;
    // NUL never occurs in a header value (Node.js refuses it), so no principal can spell another's scope.
    return `${principal ?? ""}\u0000${hash("sha256", JSON.stringify(values), "base64url")}`;
  };
}

function credentialReader(name: string): (request: IdempotencyRequest) => string | undefined {
  const cookie = /^cookie:(.+)$/i.exec(name)?.[1];
  if (cookie === undefined) {
    const header = name.toLowerCase();
    return (request) => headerValue(request, header);
  }
  return (request) => cookieValue(headerValue(request, "cookie"), cookie);
}

/** One cookie's value from a `Cookie` header (RFC 6265 §4.2.1: `name=value` pairs separated by `; `). */
function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const pair of header.split(";")) {
    const equals = pair.indexOf("=");
    if (equals !== -1 && pair.slice(0, equals).trim() === name) return pair.slice(equals + 1).trim();
  }
  return undefined;
}

/**
 * Checks one `credentialHeaders` entry: a header name, or `cookie:NAME`. Header names come back lower-cased;
 * cookie names are case-sensitive and kept as written.
 * @returns `undefined` when the entry is neither
 */
export function credentialName(value: string, headerName: RegExp): string | undefined {
  const cookie = /^cookie:(.+)$/i.exec(value)?.[1];
  if (cookie !== undefined) return headerName.test(cookie) ? `cookie:${cookie}` : undefined;
  return headerName.test(value) ? value.toLowerCase() : undefined;
}
