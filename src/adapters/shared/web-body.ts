import { concat } from "../../core/bytes.js";
import { RequestTooLargeError } from "../../core/errors.js";

/**
 * Reads a fetch `Request`'s body from a clone, refusing (without reading on) once it is over `limit` bytes; the
 * original stays unread for the handler.
 */
export async function readWebBody(request: Request, limit: number): Promise<Uint8Array | undefined> {
  const declared = Number(request.headers.get("content-length"));
  if (declared > limit) throw new RequestTooLargeError(`The request body is ${declared} bytes`);
  if (!request.body) return undefined;
  const reader = request.clone().body!.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      // Not awaited: a tee's branch finishes cancelling only once the other branch (the original, left unread for the
      // handler) is cancelled too, so awaiting here would never answer. The refused request's body is dropped.
      reader.cancel().catch(() => {});
      throw new RequestTooLargeError(`The request body is over ${limit} bytes`);
    }
    chunks.push(value);
  }
  return chunks.length === 1 ? chunks[0] : concat(chunks);
}

/** Statuses whose responses must not carry a body (a fetch `Response` refuses one). */
const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);

/** A fetch `Response` from engine parts. */
export function webResponse(status: number, headers: readonly [string, string][], body: Uint8Array): Response {
  return new Response(NULL_BODY_STATUS.has(status) || body.byteLength === 0 ? null : (body as BodyInit), {
    status,
    headers: headersInit(headers),
  });
}

/**
 * The headers as a plain record when no name repeats, else as the pairs. Any fetch takes either; @hono/node-server
 * writes a record straight to the socket, but first copies pairs (or a `Headers`) into a new `Headers`, which costs
 * more than the rest of a replay. An ordinary object, not one without a prototype: V8 keeps those in dictionary
 * mode, where the `for...in` loops that @hono/node-server and Node.js run over the record to write it cost a replay
 * about 3,000 instructions more (callgrind, Node 20).
 */
function headersInit(pairs: readonly [string, string][]): HeadersInit {
  const record: Record<string, string> = {};
  for (const [name, value] of pairs) {
    if (Object.hasOwn(record, name)) return pairs as [string, string][];
    // Assigned, `__proto__` would set the record's prototype instead of adding a header.
    if (name === "__proto__") Object.defineProperty(record, name, { value, enumerable: true, writable: true });
    else record[name] = value;
  }
  return record;
}

/**
 * A fetch `Response`'s headers as an ordered list (`set-cookie` kept apart, as fetch keeps it), without the framing
 * of the message they came with: the body read from it is sent again as bytes, which the server frames anew. A kept
 * `Transfer-Encoding: chunked` (Hono's `stream()` helpers set it) beside the new Content-Length is a response clients
 * refuse to parse.
 */
export function headerEntries(headers: Headers): [string, string][] {
  const entries: [string, string][] = [];
  for (const entry of headers) if (!FRAMING.has(entry[0])) entries.push(entry);
  return entries;
}

const FRAMING = new Set(["content-length", "transfer-encoding"]);
