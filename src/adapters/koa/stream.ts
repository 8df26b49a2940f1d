import { PassThrough, pipeline, Readable } from "node:stream";
import type { Context, Response as KoaResponse } from "koa";
import type { StreamedResponse } from "../../core/response.js";
import type { StreamCapture } from "../../core/stream-recorder.js";
import { headerPairs } from "../shared/header-pairs.js";
import { teeStream } from "../shared/node-stream.js";

/**
 * Streaming routes (`stream: true`) on Koa. Koa destroys a stream body once the response is over, and when its client
 * leaves (a web stream, `Blob` or `Response` body is cancelled the same way): had it the handler's stream, a client
 * that drops would stop the run a retry follows. So a stream the handler sets as `ctx.body` never reaches Koa: Koa
 * is handed a stream of oncely's, fed from the handler's by oncely's recorder, and destroying it leaves the handler's
 * stream running and recorded to its end.
 */

/** A stream the handler set as `ctx.body`, and the stream Koa was handed in its place. */
interface HandedStream {
  source: AsyncIterable<unknown>;
  out: PassThrough;
}

/**
 * Stands in front of `ctx.body` while the handler runs: a stream set there is kept by oncely, and Koa gets a stream
 * of oncely's instead. Returns `release`, which puts `ctx.body` back as Koa has it and says which streams were kept.
 */
export function keepStreamBodies(ctx: Context): () => HandedStream[] {
  const response = ctx.response;
  const body = bodyProperty(response);
  const handed: HandedStream[] = [];
  Object.defineProperty(response, "body", {
    configurable: true,
    enumerable: true,
    get(this: KoaResponse) {
      return body.get!.call(this);
    },
    set(this: KoaResponse, value: unknown) {
      const source = handlerStream(this, value);
      if (source === undefined) return body.set!.call(this, value);
      const out = new PassThrough();
      handed.push({ source, out });
      body.set!.call(this, out);
      if (value instanceof Blob) this.length = value.size;
    },
  });
  return () => {
    delete (response as { body?: unknown }).body;
    return handed;
  };
}

/**
 * Starts feeding the streams kept from the handler: the one Koa sends is recorded (its head as it stands now, the
 * handler done), from its first byte to its end, whether or not the client still listens. One a middleware between
 * oncely and the handler wrapped (the wrapper is what Koa sends) is passed on unrecorded.
 */
export function feedStreamBodies(ctx: Context, handed: readonly HandedStream[], capture: StreamCapture): boolean {
  const sent = handed.find(({ out }) => out === ctx.body);
  if (sent === undefined) return false;
  capture.head(ctx.status, headerPairs(ctx.response.headers));
  for (const { source, out } of handed) {
    if (out === sent.out) teeStream(source, capture, out);
    else pipeline(Readable.from(source, { objectMode: false }), out, () => {});
  }
  return true;
}

/** Answers with a stream a retry follows or replays; one that ends early errors the body, and Koa cuts it off. */
export function sendKoaStream(ctx: Context, response: StreamedResponse): void {
  ctx.status = response.status;
  for (const [name, value] of response.headers) if (name !== "content-length") ctx.append(name, value);
  ctx.body = Readable.from(response.chunks, { objectMode: false });
}

/**
 * The stream a `ctx.body` value is, when Koa would send it as one. A fetch `Response` gives its status and headers
 * now, as Koa's own setter does; a `Blob` its type.
 */
function handlerStream(response: KoaResponse, value: unknown): AsyncIterable<unknown> | undefined {
  if (value instanceof Response) {
    response.status = value.status;
    for (const [name, header] of value.headers) response.set(name, header);
    return value.body ? asyncIterable(value.body) : Readable.from([]);
  }
  if (value instanceof Blob) {
    if (!response.get("Content-Type") && value.type) response.type = value.type;
    return asyncIterable(value.stream());
  }
  if (value instanceof ReadableStream) return asyncIterable(value);
  if (typeof value === "object" && value !== null && typeof (value as { pipe?: unknown }).pipe === "function") {
    return value as AsyncIterable<unknown>;
  }
  return undefined;
}

/** A web stream as the async iterable it is on Node.js (the DOM typings leave that out). */
function asyncIterable(stream: ReadableStream<unknown>): AsyncIterable<unknown> {
  return stream as unknown as AsyncIterable<unknown>;
}

/** Koa's own `body` accessor, from the response's prototypes. */
function bodyProperty(response: KoaResponse): PropertyDescriptor {
  for (let owner = Object.getPrototypeOf(response); owner !== null; owner = Object.getPrototypeOf(owner)) {
    const property = Object.getOwnPropertyDescriptor(owner, "body");
    if (property?.set) return property;
  }
  throw new TypeError("oncely/koa: this Koa response has no `body` accessor");
}
