import { drained } from "../../adapters/shared/node-stream.js";
import type { StreamCapture } from "../../core/stream-recorder.js";
import { upstreamFailure } from "./errors.js";
import {
  answerFailure,
  type GuardedOutcome,
  type GuardedRequest,
  requestUpstream,
  responseHeaders,
} from "./guarded.js";
import { headerPairs } from "./headers.js";
import type { Upstream } from "./upstream.js";

/**
 * Runs a claimed request on a streaming route (`"stream": true`) against the upstream: its response goes to the
 * client chunk by chunk as the upstream sends it (server-sent events, a chunked body), each chunk recorded on its way
 * for retries to follow or replay. The upstream's body is read to its end whether or not the client still listens,
 * so a retry follows the rest. Its end reaches the client once the outcome is stored, so an immediate retry finds it
 * complete. An upstream that fails before its response begins is answered as on any guarded route; one that dies
 * mid-stream cuts the client's response off, and its followers' streams end with the documented error.
 */
export async function forwardStreamed(
  upstream: Upstream,
  request: GuardedRequest,
  capture: StreamCapture,
): Promise<GuardedOutcome> {
  const { res, decision } = request;
  let response: Awaited<ReturnType<typeof requestUpstream>>;
  try {
    response = await requestUpstream(upstream, request);
  } catch (error) {
    await capture.fail(error);
    return answerFailure(upstream, request, error);
  }
  const headers = responseHeaders(response, decision);
  capture.head(response.status, headerPairs(headers));
  res.writeHead(response.status, headers);
  // The head at once: a client waiting on server-sent events learns the stream has begun before its first event.
  res.flushHeaders();
  let written: Promise<unknown> = Promise.resolve();
  try {
    for await (const chunk of response.body) {
      capture.write(chunk as Buffer);
      if (res.destroyed) continue;
      let ready = true;
      written = new Promise((resolve) => {
        ready = res.write(chunk, resolve);
      });
      // At the client's pace while it listens: a slow client's bytes are not all held in the proxy.
      if (!ready) await drained(res);
    }
  } catch (error) {
    await capture.fail(error);
    // Cut off only once what came before is on the wire: destroying the socket drops what it has not sent yet.
    await written;
    res.destroy();
    if (request.signal.aborted) return { kind: "shut-down" };
    const failure = upstreamFailure(error, upstream.url, upstream.timeout);
    return { kind: "upstream-failed", status: failure.status, reason: `mid-stream: ${failure.message}` };
  }
  await capture.end().catch(() => undefined);
  res.end();
  return { kind: "answered" };
}
