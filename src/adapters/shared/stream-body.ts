import { Readable } from "node:stream";

/** A response body read from a stream: its bytes (`null` when over the limit) and a stream to send in its place. */
export interface BufferedStream {
  /** Every byte, or `null` when the stream is longer than the limit (then it was not read to the end). */
  body: Buffer | null;
  /** A fresh stream of the same bytes, for the caller to send instead of the stream it consumed. */
  replacement: Readable;
}

/**
 * Reads a response stream (Node.js or web) so its bytes can be stored, stopping once it is over `limit`: a body
 * too large to keep need not be held in memory, so past the limit the replacement streams the rest through.
 */
export async function bufferStream(
  source: AsyncIterable<unknown> | ReadableStream<unknown>,
  limit: number,
): Promise<BufferedStream> {
  const iterator = (source as AsyncIterable<unknown>)[Symbol.asyncIterator]();
  const chunks: Buffer[] = [];
  let size = 0;
  for (;;) {
    const next = await iterator.next();
    if (next.done) {
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      return { body, replacement: Readable.from(body.byteLength ? [body] : [], { objectMode: false }) };
    }
    const chunk = toBuffer(next.value);
    chunks.push(chunk);
    size += chunk.byteLength;
    if (size > limit) break;
  }
  async function* restOfStream() {
    yield* chunks;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      yield toBuffer(next.value);
    }
  }
  return { body: null, replacement: Readable.from(restOfStream(), { objectMode: false }) };
}

/** Stream chunks as bytes: strings are UTF-8, as Node.js writes them to a socket by default. */
function toBuffer(chunk: unknown): Buffer {
  if (typeof chunk === "string") return Buffer.from(chunk);
  if (Buffer.isBuffer(chunk)) return chunk;
  if (ArrayBuffer.isView(chunk)) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  if (chunk instanceof ArrayBuffer) return Buffer.from(chunk);
  throw new TypeError(`Expected a response stream of bytes or strings, got a chunk of type ${typeof chunk}`);
}
