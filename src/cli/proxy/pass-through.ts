import type { IncomingMessage, ServerResponse } from "node:http";
import type { RequestAbort } from "./abort.js";
import { clientResponseHeaders, type HeaderRecord } from "./headers.js";
import { pipeTo } from "./pipe.js";
import { hasBody } from "./request-body.js";
import type { Upstream } from "./upstream.js";

export interface PassThroughRequest {
  req: IncomingMessage;
  res: ServerResponse;
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
      url: req.url ?? "/",
      headers: request.headers,
      body: request.body ?? (hasBody(req) ? req : null),
      signal: request.signal,
    });
    res.writeHead(response.status, clientResponseHeaders(response.headers));
    // Node.js holds written headers back until the first body chunk, to send both in one packet. A body that starts
    // later (server-sent events, a long poll) must not hold the headers back with it.
    const flush = setImmediate(() => res.flushHeaders());
    response.body.once("data", () => clearImmediate(flush));
    await pipeTo(response.body, res).finally(() => clearImmediate(flush));
  } finally {
    res.off("close", clientGone);
  }
}
