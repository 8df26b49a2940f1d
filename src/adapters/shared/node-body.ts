import type { IncomingMessage } from "node:http";
import { Readable } from "node:stream";
import { RequestTooLargeError } from "../../core/errors.js";

/**
 * Reads a node:http request body, refusing (without reading on) once it is over `limit` bytes, and leaves the
 * request readable again for whatever runs next (a body parser, a webhook signature check).
 */
export async function readNodeBody(req: IncomingMessage, limit: number): Promise<Uint8Array | undefined> {
  const declared = Number(req.headers["content-length"]);
  if (declared > limit) throw new RequestTooLargeError(`The request body is ${declared} bytes`);
  if (req.readableEnded) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer);
    size += buffer.byteLength;
    if (size > limit) throw new RequestTooLargeError(`The request body is over ${limit} bytes`);
    chunks.push(buffer);
  }
  const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
  makeReadableAgain(req, body);
  return body;
}

const STREAM_MEMBERS = [
  "read",
  "on",
  "once",
  "addListener",
  "prependListener",
  "prependOnceListener",
  "removeListener",
  "off",
  "removeAllListeners",
  "listeners",
  "listenerCount",
  "pipe",
  "unpipe",
  "pause",
  "resume",
  "isPaused",
  "setEncoding",
  "unshift",
  "wrap",
  Symbol.asyncIterator,
] as const;
const STREAM_STATE = ["readable", "readableEnded", "readableFlowing", "readableLength", "readableEncoding"] as const;

/**
 * A consumed request cannot be rewound, so the request's stream surface is pointed at a fresh stream of the same
 * bytes. The request object itself stays (frameworks hold on to it), with its headers, socket and properties.
 */
function makeReadableAgain(req: IncomingMessage, body: Buffer): void {
  const replay = Readable.from(body.byteLength ? [body] : [], { objectMode: false });
  const target = req as unknown as Record<PropertyKey, unknown>;
  for (const member of STREAM_MEMBERS) {
    const method = (replay as unknown as Record<PropertyKey, (...args: unknown[]) => unknown>)[member]!;
    target[member] = (...args: unknown[]) => {
      const result = method.apply(replay, args);
      return result === replay ? req : result;
    };
  }
  for (const name of STREAM_STATE) {
    Object.defineProperty(req, name, { configurable: true, get: () => replay[name] });
  }
}
