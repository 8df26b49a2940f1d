import type { FastifyReply } from "fastify";
import type { ResponseData } from "../../core/response.js";
import { groupHeaders } from "../shared/header-pairs.js";
import { bufferStream } from "../shared/stream-body.js";

/** An `onSend` payload as oncely stores it, and the payload to hand on in its place. */
export interface CapturedPayload {
  /** The bytes Fastify will send; `null` when the body is longer than the limit (it is then not kept). */
  body: Uint8Array | null;
  /** What the `onSend` hook returns: the payload itself, or a fresh stream of the bytes read from it. */
  payload: unknown;
}

/** A reply's headers as `reply.getHeaders()` gives them. */
export type ReplyHeaders = ReturnType<FastifyReply["getHeaders"]>;

const EMPTY = new Uint8Array(0);

/**
 * The bytes of a payload Fastify has serialized (a string or Buffer, or nothing), without a copy where it can; for a
 * stream or a fetch `Response`, `undefined`: `capturePayload` reads those.
 */
export function payloadBytes(reply: FastifyReply, payload: unknown): Uint8Array | undefined {
  if (payload === undefined || payload === null || !hasBody(reply.statusCode)) return EMPTY;
  if (typeof payload === "string") return Buffer.from(payload);
  if (Buffer.isBuffer(payload)) return payload;
  return undefined;
}

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
  const body = payloadBytes(reply, payload);
  if (body !== undefined) return { body, payload };
  if (typeof payload === "object" && payload !== null && (isNodeStream(payload) || isWebStream(payload))) {
    const { body, replacement } = await bufferStream(payload, limit);
    return { body, payload: replacement };
  }
  throw new TypeError(`oncely cannot capture a Fastify payload of type ${typeof payload}`);
}

/** Sends an engine response (a replay, a problem, a replacement) through Fastify, so later hooks still see it. */
export function sendFastifyResponse(reply: FastifyReply, response: ResponseData): FastifyReply {
  setStatusAndHeaders(reply, response);
  return sendBody(reply, response);
}

/**
 * Gives a reply an engine response's status and headers, in one call. Returns whether they have a `Content-Type`:
 * Fastify gives a Buffer payload without one `application/octet-stream`.
 */
export function setStatusAndHeaders(reply: FastifyReply, response: ResponseData): boolean {
  const headers = groupHeaders(response.headers);
  reply.code(response.status).headers(headers);
  return headers["content-type"] !== undefined;
}

/** Sends an engine response's body, its status and headers set. */
export function sendBody(reply: FastifyReply, response: ResponseData): FastifyReply {
  return reply.send(asBuffer(response.body));
}

/**
 * Gives a reply an engine response's status and headers, for an `onSend` hook to return its body instead of the
 * handler's. Headers set before the handler (CORS, a request id) stay.
 */
export function replaceReply(reply: FastifyReply, response: ResponseData, outer: ReplyHeaders): Buffer {
  // Only the headers set before the handler ran survive: the handler's own belong to the answer being replaced.
  for (const name of Object.keys(reply.getHeaders())) reply.removeHeader(name);
  reply.headers(outer);
  reply.code(response.status);
  reply.headers(groupHeaders(response.headers));
  return asBuffer(response.body);
}

/** Fastify writes no body for these statuses, whatever the handler sent. */
function hasBody(status: number): boolean {
  return status >= 200 && status !== 204 && status !== 304;
}

function asBuffer(body: Uint8Array): Buffer {
  return Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
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
