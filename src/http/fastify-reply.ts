import type { FastifyReply } from "fastify";
import type { ResponseData } from "../core/response.js";
import { groupHeaders } from "./header-pairs.js";
import { bufferStream } from "./stream-body.js";

/** An `onSend` payload as oncely stores it, and the payload to hand on in its place. */
export interface CapturedPayload {
  /** The bytes Fastify will send; `null` when the body is longer than the limit (it is then not kept). */
  body: Uint8Array | null;
  /** What the `onSend` hook returns: the payload itself, or a fresh stream of the bytes read from it. */
  payload: unknown;
}

const EMPTY = new Uint8Array(0);

/**
 * Reads the final payload of a reply (after serialization and every earlier `onSend` hook) as the bytes Fastify
 * will write: a string as UTF-8, a Buffer as is, a Node.js or web stream read through (up to `limit`), a fetch
 * `Response` unpacked into status, headers and body as Fastify would unpack it after the hooks.
 */
export async function capturePayload(reply: FastifyReply, payload: unknown, limit: number): Promise<CapturedPayload> {
  if (isFetchResponse(payload)) {
    // Fastify applies a Response's status and headers only after the onSend hooks; apply them now so they are stored.
    reply.code(payload.status);
    for (const [name, value] of payload.headers) reply.header(name, value);
    payload = payload.body;
  }
  // Fastify writes no body for these statuses, whatever the handler sent.
  const status = reply.statusCode;
  if (payload === undefined || payload === null || status < 200 || status === 204 || status === 304) {
    return { body: EMPTY, payload };
  }
  if (typeof payload === "string") return { body: Buffer.from(payload), payload };
  if (Buffer.isBuffer(payload)) return { body: payload, payload };
  if (typeof payload === "object" && (isNodeStream(payload) || isWebStream(payload))) {
    const { body, replacement } = await bufferStream(payload, limit);
    return { body, payload: replacement };
  }
  throw new TypeError(`oncely cannot capture a Fastify payload of type ${typeof payload}`);
}

/** Sends an engine response (a replay, a problem, a replacement) through Fastify, so later hooks still see it. */
export function sendFastifyResponse(reply: FastifyReply, response: ResponseData): FastifyReply {
  reply.code(response.status);
  reply.headers(groupHeaders(response.headers));
  const { body } = response;
  return reply.send(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
}

/**
 * Gives a reply an engine response's status and headers, for an `onSend` hook to return its body instead of the
 * handler's. Headers set before the handler (CORS, a request id) stay.
 */
export function replaceReply(
  reply: FastifyReply,
  response: ResponseData,
  outer: ReturnType<FastifyReply["getHeaders"]>,
): Buffer {
  // Only the headers set before the handler ran survive: the handler's own belong to the answer being replaced.
  for (const name of Object.keys(reply.getHeaders())) reply.removeHeader(name);
  reply.headers(outer);
  reply.code(response.status);
  reply.headers(groupHeaders(response.headers));
  const { body } = response;
  return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

/** True when the stored headers carry no `Content-Type` (Fastify would add one to a Buffer payload). */
export function lacksContentType(response: ResponseData): boolean {
  return !response.headers.some(([name]) => name === "content-type");
}

function isFetchResponse(value: unknown): value is Response {
  return typeof value === "object" && value !== null && Object.prototype.toString.call(value) === "[object Response]";
}

function isNodeStream(value: object): value is AsyncIterable<unknown> {
  return typeof (value as { pipe?: unknown }).pipe === "function";
}

function isWebStream(value: object): value is ReadableStream<unknown> {
  return typeof (value as { getReader?: unknown }).getReader === "function";
}
