import type { GuardInput } from "../../core/guard.js";

/**
 * Adds what a body parser left (the raw stream already consumed) to a request's engine input: bytes for a string or
 * Buffer body, otherwise the parsed value, which the engine fingerprints canonically and measures against
 * `maxRequestBytes` (by its `Content-Length`) as it does bytes. The input is rebuilt field by field, without
 * `readBody`: a spread of it showed as 0.6% of the CPU of an Express replay.
 */
export function withParsedBody(input: GuardInput, body: unknown): GuardInput {
  const bytes = typeof body === "string" ? Buffer.from(body) : body instanceof Uint8Array ? body : undefined;
  return {
    method: input.method,
    path: input.path,
    query: input.query,
    headers: input.headers,
    raw: input.raw,
    body: bytes,
    parsedBody: bytes === undefined ? body : undefined,
  };
}
