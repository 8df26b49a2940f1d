import type { GuardInput } from "../core/guard.js";

/**
 * Adds what a body parser left (the raw stream already consumed) to a request's engine input: bytes for a string or
 * Buffer body, otherwise the parsed value, which the engine fingerprints canonically and measures against
 * `maxRequestBytes` (by its `Content-Length`) as it does bytes.
 */
export function withParsedBody(input: GuardInput, body: unknown): GuardInput {
  if (body === undefined) return { ...input, readBody: undefined };
  if (typeof body === "string") return { ...input, readBody: undefined, body: Buffer.from(body) };
  if (body instanceof Uint8Array) return { ...input, readBody: undefined, body };
  return { ...input, readBody: undefined, parsedBody: body };
}
