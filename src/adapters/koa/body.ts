import type { Readable } from "node:stream";
import type { Context } from "koa";
import type { CapturedResponse } from "../../core/guard.js";
import type { ResponseData } from "../../core/response.js";
import { groupHeaders, headerPairs } from "../shared/header-pairs.js";
import { bufferStream } from "../shared/stream-body.js";

/** What oncely stores of a Koa response, and the body to put back in `ctx.body` so the bytes sent are the same. */
export interface CapturedKoaBody {
  response: CapturedResponse;
  /** The new `ctx.body`; `undefined` to leave it (Koa will then send exactly what was captured). */
  replacement?: Buffer | Readable;
}

/** Statuses Koa sends without a body (it clears `ctx.body` and its headers). */
const EMPTY_STATUS = new Set([204, 205, 304]);
const EMPTY = new Uint8Array(0);

/**
 * Reads `ctx.body` as the bytes Koa's `respond` will send for it: a string as UTF-8, a Buffer as is, a Node.js stream,
 * web `ReadableStream`, `Blob` or fetch `Response` read through (up to `limit`), any other value as
 * `JSON.stringify` gives it; no body as Koa's status-message text, or as nothing after an explicit `ctx.body = null`.
 */
export async function captureKoaBody(ctx: Context, limit: number): Promise<CapturedKoaBody> {
  const status = ctx.status;
  const headers = headerPairs(ctx.response.headers);
  const body: unknown = ctx.body;
  if (EMPTY_STATUS.has(status) || ctx.method === "HEAD") {
    return { response: { status, headers: withoutContentType(headers), body: EMPTY } };
  }
  if (body === null || body === undefined) {
    if ((ctx.response as { _explicitNullBody?: boolean })._explicitNullBody) {
      return { response: { status, headers: withoutContentType(headers), body: EMPTY }, replacement: Buffer.alloc(0) };
    }
    // Koa answers a missing body with the status message as text, typed and sized as below.
    const text = Buffer.from(ctx.req.httpVersionMajor >= 2 ? String(status) : ctx.message || String(status));
    const typed: [string, string][] = [...withoutContentType(headers), ["content-type", "text/plain; charset=utf-8"]];
    return { response: { status, headers: typed, body: text }, replacement: text };
  }
  if (Buffer.isBuffer(body)) return { response: { status, headers, body } };
  if (typeof body === "string") {
    const bytes = Buffer.from(body);
    return { response: { status, headers, body: bytes }, replacement: bytes };
  }
  if (body instanceof Blob && body.size > limit) return { response: { status, headers, body: null } };
  const stream = streamOf(body);
  if (stream) {
    const { body: bytes, replacement } = await bufferStream(stream, limit);
    return { response: { status, headers, body: bytes }, replacement: bytes ?? replacement };
  }
  const json = Buffer.from(JSON.stringify(body));
  return { response: { status, headers, body: json }, replacement: json };
}

/**
 * Puts the captured bytes back as `ctx.body`, with the status and `Content-Type` they were captured with (Koa would
 * otherwise type a Buffer as application/octet-stream, and turn a default 404 into a 200). Middleware that runs after
 * oncely sees a Buffer, as it does on a replay.
 */
export function putBackKoaBody(ctx: Context, { response, replacement }: CapturedKoaBody): void {
  if (!replacement) return;
  ctx.status = response.status;
  ctx.body = replacement;
  const type = response.headers.find(([name]) => name === "content-type");
  if (type) ctx.set("content-type", type[1]);
  else ctx.remove("Content-Type");
}

/**
 * Answers with an engine response (a replay, a problem, a replacement) through Koa. Headers that middleware before
 * oncely set (CORS, a request id) stay.
 */
export function sendKoaResponse(ctx: Context, response: ResponseData): void {
  ctx.status = response.status;
  for (const [name, value] of Object.entries(groupHeaders(response.headers))) ctx.set(name, value);
  if (EMPTY_STATUS.has(response.status)) {
    ctx.body = null;
    return;
  }
  const { body } = response;
  ctx.body = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  // Koa types a Buffer body as application/octet-stream when it has no type; the stored response had none.
  if (!response.headers.some(([name]) => name === "content-type")) ctx.remove("Content-Type");
}

function withoutContentType(headers: [string, string][]): [string, string][] {
  return headers.filter(([name]) => name !== "content-type");
}

/** The body as a stream of bytes when it is one of the streaming kinds Koa sends. */
function streamOf(body: unknown): AsyncIterable<unknown> | ReadableStream<unknown> | undefined {
  if (body instanceof Blob) return body.stream();
  if (body instanceof ReadableStream) return body;
  if (body instanceof Response) return body.body ?? new ReadableStream({ start: (controller) => controller.close() });
  if (typeof body === "object" && body !== null && typeof (body as { pipe?: unknown }).pipe === "function") {
    return body as AsyncIterable<unknown>;
  }
  return undefined;
}
