import { RequestTooLargeError } from "../core/errors.js";
import type { GuardInput } from "../core/guard.js";

/**
 * Adds what a body parser left (the raw stream already consumed) to a request's engine input: bytes for a string or
 * Buffer body, otherwise the parsed value, fingerprinted canonically. A parsed body is refused as too large by what
 * arrived, judged when the guard asks for it (so a request without a key is never refused).
 */
export function withParsedBody(
  input: GuardInput,
  headers: Readonly<Record<string, string | string[] | undefined>>,
  body: unknown,
  limit: number,
): GuardInput {
  if (body === undefined) return input;
  if (typeof body === "string") return { ...input, body: Buffer.from(body) };
  if (Buffer.isBuffer(body)) return { ...input, body };
  if (parsedSize(headers, body) > limit) {
    return {
      ...input,
      readBody: () => Promise.reject(new RequestTooLargeError(`The request body is over ${limit} bytes`)),
    };
  }
  return { ...input, parsedBody: body };
}

/**
 * The size of a parsed body: its `Content-Length`, or for a chunked request (which has none) the length of its
 * compact JSON, which is never more than what arrived.
 */
function parsedSize(headers: Readonly<Record<string, string | string[] | undefined>>, body: unknown): number {
  const declared = Number(headers["content-length"]);
  if (Number.isFinite(declared)) return declared;
  try {
    return Buffer.byteLength(JSON.stringify(body) ?? "");
  } catch {
    return 0; // not JSON-serializable: the fingerprint will say so
  }
}
