/**
 * The one request shape every adapter produces, and that `scope`, `fingerprint` and events see, so a single
 * `createIdempotency` instance serves every framework.
 */
export interface IdempotencyRequest {
  /** Upper-case HTTP method. */
  method: string;
  /** The path without the query string, e.g. `/charges/ch_1`. */
  path: string;
  /** The raw query string without the leading `?` (empty when there is none). */
  query: string;
  /** Request headers with lower-case names, as Node.js presents them. */
  headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The request body as bytes; `undefined` when there is none or when a body parser already consumed it. */
  body: Uint8Array | undefined;
  /** The parsed body, when the framework's body parser ran before oncely (Express `req.body`, ...). */
  parsedBody?: unknown;
  /** The framework's own request object (Express `req`, Hono `Context`, a fetch `Request`, ...). */
  raw: unknown;
}

/** Reads a header as one string (repeated values joined with ", "), or `undefined`. */
export function headerValue(request: Pick<IdempotencyRequest, "headers">, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(", ") : value;
}
