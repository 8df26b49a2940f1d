import type { IncomingMessage, ServerResponse } from "node:http";
import type { Readable } from "node:stream";
import type { RequestAbort } from "./abort.js";
import { clientResponseHeaders, type HeaderRecord } from "./headers.js";
import { pipeTo } from "./pipe.js";
import { hasBody } from "./request-body.js";
import type { Upstream } from "./upstream.js";

export interface PassThroughRequest {
  req: IncomingMessage;
  res: ServerResponse;
  /** The target to send upstream, in origin-form. */
  url: string;
  headers: HeaderRecord;
  /** The body, when the proxy already read it (a guarded route that let the request through after reading). */
  body: Uint8Array | undefined;
  signal: RequestAbort;
}

/**
 * Forwards a request oncely does not guard, streaming both bodies: nothing is buffered, and a client that goes away
 * aborts the upstream request. Rejects when the upstream fails; the caller answers (or drops the connection when the
 * response had begun).
 */
export async function passThrough(upstream: Upstream, request: PassThroughRequest): Promise<void> {
  const { req, res } = request;
  const clientGone = () => {
    if (!res.writableFinished) request.signal.abort();
  };
  res.once("close", clientGone);
  try {
    const response = await upstream.request({
      method: req.method ?? "GET",
      url: request.url,
      headers: request.headers,
      body: request.body ?? requestBody(req),
      signal: request.signal,
    });
    res.writeHead(response.status, clientResponseHeaders(response.headers));
    // Node.js holds written headers back until the first body chunk, to send both in one packet. A body that starts
    // later (server-sent events, a long poll) must not hold the headers back with it.
    if (response.body.readableLength > 0) return await pipeTo(response.body, res);
    const flush = setImmediate(() => res.flushHeaders());
    response.body.once("data", () => clearImmediate(flush));
    await pipeTo(response.body, res).finally(() => clearImmediate(flush));
  } finally {
    res.off("close", clientGone);
  }
}

/**
 * The request body to send on: the client's stream, or, when Node.js has already received all of it (a small body
 * arrives with the headers), those bytes, which undici then writes with the request head in one system call. Nothing
 * is waited for: a body still arriving streams.
 */
function requestBody(req: IncomingMessage): Readable | Buffer | null {
  if (!hasBody(req)) return null;
  if (!req.complete || req.readableFlowing !== null) return req;
  const chunks: Buffer[] = [];
  for (let chunk: Buffer | null = req.read(); chunk !== null; chunk = req.read()) chunks.push(chunk);
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}
