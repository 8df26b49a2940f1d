/**
 * The one request shape every adapter produces, and that `scope` and `fingerprint` see, so a single
 * `createIdempotency` instance serves every framework. `Raw` is the framework's own request object, typed where the
 * options are given to one adapter (`idempotency(idem, { scope })` in Express types `raw` as Express's `Request`).
 */
export interface IdempotencyRequest<Raw = unknown> {
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
  /**
   * The framework's own request object, with whatever your middleware set on it: Express `req`, Fastify `request`,
   * Koa `ctx`, Hono `c` (its `Context`), the fetch `Request`, node's `IncomingMessage`, Nest's platform request.
   */
  raw: Raw;
}

/** Reads a header as one string (repeated values joined with ", "), or `undefined`; `name` in any case. */
export function headerValue(request: Pick<IdempotencyRequest, "headers">, name: string): string | undefined {
  const value = request.headers[name] ?? request.headers[name.toLowerCase()];
  return Array.isArray(value) ? value.join(", ") : value;
}
