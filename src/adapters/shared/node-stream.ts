import type { ServerResponse } from "node:http";
import { PassThrough } from "node:stream";
import type { StreamedResponse } from "../../core/response.js";
import type { StreamCapture } from "../../core/stream-recorder.js";
import { headerList, holdHead, toBuffer } from "./node-response.js";

/**
 * Streaming routes (`stream: true`) on node:http responses: the handler's response goes out as it is written, each
 * chunk fed to oncely's recorder on the way, and a stream a retry follows or replays is written chunk by chunk.
 */

type Passed = Pick<ServerResponse, "writeHead" | "write" | "end">;

/**
 * Sends what the handler writes at once and feeds it to `capture`: the head at the first `writeHead`, `write`,
 * `flushHeaders` or `end`, then every chunk. The response's own end waits for `capture.end()`, so an immediate retry
 * finds the stream completed. It records on after the client has gone: a retry then follows what the handler still
 * writes. Returns `stop`, which puts the response's methods back without ending anything (the handler failed).
 */
export function teeNodeResponse(res: ServerResponse, capture: StreamCapture): () => void {
  const own: Partial<Passed> = {};
  for (const name of ["writeHead", "write", "end"] as const) {
    if (Object.hasOwn(res, name)) (own as Record<string, unknown>)[name] = res[name];
  }
  const writeHead = res.writeHead;
  const write = res.write;
  const end = res.end;
  let headed = false;
  let ended = false;
  const head = () => {
    if (headed) return;
    headed = true;
    capture.head(res.statusCode, headerList(res));
  };
  const stop = () => {
    for (const name of ["writeHead", "write", "end"] as const) {
      if (own[name]) (res as unknown as Record<string, unknown>)[name] = own[name];
      else delete (res as unknown as Record<string, unknown>)[name];
    }
  };
  res.writeHead = function streamedWriteHead(
    this: ServerResponse,
    status: number,
    reason?: unknown,
    headers?: unknown,
  ) {
    // Applied through setHeader first, so the head recorded is the head sent.
    holdHead(this, status, reason, headers);
    head();
    return (writeHead as (status: number, reason?: string) => ServerResponse).call(
      this,
      this.statusCode,
      this.statusMessage,
    );
  } as ServerResponse["writeHead"];
  res.write = function streamedWrite(this: ServerResponse, chunk: unknown, encoding?: unknown, callback?: unknown) {
    // After its end (an error path writing again), as after a real end: nothing more goes out.
    if (ended) return false;
    head();
    if (chunk !== undefined && chunk !== null) capture.write(toBuffer(chunk, encoding));
    return write.call(this, chunk, encoding as BufferEncoding, callback as never);
  } as ServerResponse["write"];
  res.end = function streamedEnd(this: ServerResponse, chunk?: unknown, encoding?: unknown, callback?: unknown) {
    if (ended) return this;
    head();
    const done = (typeof chunk === "function" ? chunk : typeof encoding === "function" ? encoding : callback) as
      | (() => void)
      | undefined;
    if (chunk !== undefined && chunk !== null && typeof chunk !== "function") {
      capture.write(toBuffer(chunk, encoding));
      write.call(this, chunk, encoding as BufferEncoding);
    }
    ended = true;
    // The stream has gone out already: whatever happened to its record, its end goes out too (events say the rest).
    const finish = () => {
      stop();
      (end as (callback?: () => void) => ServerResponse).call(this, done);
    };
    capture.end().then(finish, finish);
    return this;
  } as ServerResponse["end"];
  return stop;
}

/**
 * Writes a stream a retry follows or replays: each chunk as it comes, waiting for the socket to drain. A stream that
 * ends early (`StreamInterruptedError`) is cut off without its end, so the client sees it did not end normally; a
 * client that leaves stops the reading.
 */
export async function sendNodeStream(res: ServerResponse, response: StreamedResponse): Promise<void> {
  const headers: string[] = [];
  for (const [name, value] of response.headers) if (name !== "content-length") headers.push(name, value);
  res.writeHead(response.status, headers);
  res.flushHeaders();
  let written: Promise<void> = Promise.resolve();
  try {
    for await (const chunk of response.chunks) {
      if (res.destroyed) return;
      written = new Promise((resolve) => {
        if (!res.write(chunk, () => resolve())) drained(res).then(resolve);
      });
      if (res.writableNeedDrain) await written;
    }
  } catch {
    // Cut off only once what came before is on the wire: destroying the socket drops what it has not sent yet.
    await written;
    res.destroy();
    return;
  }
  res.end();
}

/** Resolves once `stream` drains, or closes (its client left: nothing more waits for it). */
export function drained(stream: Pick<NodeJS.EventEmitter, "on" | "off">): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off("drain", done);
      stream.off("close", done);
      resolve();
    };
    stream.on("drain", done);
    stream.on("close", done);
  });
}

/**
 * A stream of `source`'s chunks, recorded on their way: `source` (a Node.js or web stream a handler answers with) is
 * read to its end whether or not the client still listens (the framework destroys the returned stream when the
 * client leaves, not the handler's), each chunk passed on at once; the end goes out once `capture.end()` stored the
 * outcome. A source that fails fails the capture and destroys the returned stream. `out` is the stream to feed, when
 * the framework was handed one already (Koa).
 */
export function teeStream(
  source: AsyncIterable<unknown>,
  capture: StreamCapture,
  out: PassThrough = new PassThrough(),
): PassThrough {
  // Destroyed by the framework when the client leaves; what the handler writes after that is still recorded.
  out.on("error", () => {});
  void (async () => {
    try {
      for await (const chunk of source) {
        const bytes = typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Uint8Array);
        capture.write(bytes);
        // At the client's pace while it listens (as a handler writing to its response is): a slow client's bytes are
        // not all held here, and a source that yields without waiting lets the socket send between chunks.
        if (!out.destroyed && !out.write(bytes)) await drained(out);
      }
    } catch (error) {
      await capture.fail(error);
      out.destroy(error as Error);
      return;
    }
    await capture.end().catch(() => undefined);
    out.end();
  })();
  return out;
}

/** The chunks of a Node.js stream or a web stream; `undefined` for anything else. */
export function streamOf(value: unknown): AsyncIterable<unknown> | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const iterable = value as Partial<AsyncIterable<unknown>>;
  return typeof iterable[Symbol.asyncIterator] === "function" ? (iterable as AsyncIterable<unknown>) : undefined;
}
