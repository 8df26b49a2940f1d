import type { IncomingMessage } from "node:http";
import { RequestTooLargeError } from "../../core/errors.js";

/**
 * Reads a guarded request's body for the fingerprint, refusing (without reading on) once it is over `limit` bytes.
 * The bytes are then what the proxy sends upstream, so the stream is not made readable again.
 */
export async function readRequestBody(req: IncomingMessage, limit: number): Promise<Uint8Array | undefined> {
  const declared = Number(req.headers["content-length"]);
  if (declared > limit) throw new RequestTooLargeError(`The request body is ${declared} bytes`);
  if (!hasBody(req)) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.byteLength;
    if (size > limit) throw new RequestTooLargeError(`The request body is over ${limit} bytes`);
    chunks.push(buffer);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
}

/** True when the request declares a body (RFC 9112 §6.3: a non-zero Content-Length or a Transfer-Encoding). */
export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers["content-length"];
  return req.headers["transfer-encoding"] !== undefined || (length !== undefined && length !== "0");
}
