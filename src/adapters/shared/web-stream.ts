import type { StreamedResponse } from "../../core/response.js";
import type { StreamCapture } from "../../core/stream-recorder.js";
import { headerEntries } from "./web-body.js";

/**
 * Streaming routes (`stream: true`) on fetch Responses: the handler's body goes out as it is read, each chunk fed to
 * oncely's recorder on the way, and a stream a retry follows or replays becomes a Response body.
 */

/**
 * The handler's response, its body passed through chunk by chunk and recorded. oncely reads the handler's body to
 * its end whether or not the client still listens (a retry then follows what the handler still writes); the body's
 * end reaches the client only once `capture.end()` stored the outcome.
 */
export function teeWebResponse(
  response: Response,
  capture: StreamCapture,
  extraHeaders: readonly [string, string][],
): Response {
  const headers = headerEntries(response.headers);
  capture.head(response.status, headers);
  const sent = extraHeaders.length ? [...headers, ...extraHeaders] : headers;
  const source = response.body;
  if (source === null) {
    const ended = capture.end().then(() => null);
    return new Response(new ReadableStream({ start: (controller) => ended.then(() => controller.close()) }), {
      status: response.status,
      headers: sent,
    });
  }
  let cancelled = false;
  let out!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      out = controller;
    },
    cancel() {
      cancelled = true;
    },
  });
  void (async () => {
    const reader = source.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        capture.write(value);
        if (!cancelled) out.enqueue(value);
      }
    } catch (error) {
      await capture.fail(error);
      if (!cancelled) out.error(error);
      return;
    }
    await capture.end().catch(() => undefined);
    if (!cancelled) out.close();
  })();
  return new Response(body, { status: response.status, headers: sent });
}

/**
 * A stream a retry follows or replays, as a Response body pulled chunk by chunk. A stream that ends early errors the
 * body (the client sees it cut off); a client that leaves stops the reading.
 */
export function webStream(response: StreamedResponse): Response {
  const chunks = response.chunks[Symbol.asyncIterator]();
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const { done, value } = await chunks.next();
          if (done) controller.close();
          else controller.enqueue(value);
        } catch (error) {
          // One turn of the event loop first: a server that destroys its socket on the error (@hono/node-server) drops
          // what it wrote in this turn and has not flushed yet, the chunks before the cut included.
          await new Promise((resolve) => setTimeout(resolve, 0));
          controller.error(error);
        }
      },
      async cancel() {
        await chunks.return?.();
      },
      // No queue: each chunk goes straight to a waiting read, so an error ending the stream discards none of them.
    },
    { highWaterMark: 0 },
  );
  const headers = response.headers.filter(([name]) => name !== "content-length");
  return new Response(body, { status: response.status, headers });
}
