import { Readable } from "node:stream";
import type { FastifyReply } from "fastify";
import type { StreamedResponse } from "../../core/response.js";
import type { StreamCapture } from "../../core/stream-recorder.js";
import { headerPairs } from "../shared/header-pairs.js";
import { streamOf, teeStream } from "../shared/node-stream.js";
import { payloadBytes } from "./reply.js";

/**
 * Streaming routes (`stream: true`) on Fastify: the handler's payload goes out as it is read, each chunk fed to
 * oncely's recorder on the way, and a stream a retry follows or replays is sent as a Node.js stream.
 */

/** Sends a stream a retry follows or replays; one that ends early errors the payload, and Fastify cuts it off. */
export function sendStream(reply: FastifyReply, response: StreamedResponse): void {
  reply.code(response.status);
  for (const [name, value] of response.headers) if (name !== "content-length") reply.header(name, value);
  reply.send(Readable.from(response.chunks, { objectMode: false }));
}

/**
 * The payload to send instead of the handler's, recorded on its way: bytes are recorded and stored before they go
 * out; a stream (Node.js or web) is read to its end whether or not the client still listens, each chunk passed on
 * at once, and its end goes out once the outcome is stored.
 */
export async function teePayload(reply: FastifyReply, payload: unknown, capture: StreamCapture): Promise<unknown> {
  if (payload instanceof Response) {
    // Fastify applies a Response's status and headers only after the onSend hooks: applied now, they are recorded.
    reply.code(payload.status);
    for (const [name, value] of payload.headers) reply.header(name, value);
    payload = payload.body;
  }
  capture.head(reply.statusCode, headerPairs(reply.getHeaders()));
  const bytes = payloadBytes(reply, payload);
  const source = bytes === undefined ? streamOf(payload) : undefined;
  if (source === undefined) {
    if (bytes) capture.write(bytes);
    await capture.end();
    return payload;
  }
  return teeStream(source, capture);
}
