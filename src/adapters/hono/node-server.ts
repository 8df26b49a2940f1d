import type { IncomingMessage, ServerResponse } from "node:http";
import type { HonoRequest } from "hono";
import type { CapturedResponse } from "../../core/guard.js";

// What oncely's Hono middleware knows about @hono/node-server, the Node.js server most Hono apps run on. It serves
// fetch Requests and Responses built lazily over Node's own objects; asking them for something only a real fetch
// object has makes it build one. Reading a handler's answer with `response.arrayBuffer()` made it build an undici
// Response and a web stream just to read back bytes it already held, and oncely then built a second Response to send:
// reading the lightweight Response's own fields instead took a new key from about 245 to 135 µs of CPU and from 46 to
// 31 KB allocated (Node 20, memory store, 50 connections).

/** The Node.js objects @hono/node-server hands to Hono as `c.env` (its documented `incoming` and `outgoing`). */
export interface NodeBindings {
  incoming: IncomingMessage;
  outgoing: ServerResponse;
}

/** `c.env` as @hono/node-server sets it, or `undefined` elsewhere (Bun, Deno, Workers, `app.request()`). */
export function nodeBindings(env: unknown): NodeBindings | undefined {
  const bindings = env as Partial<NodeBindings> | undefined;
  if (typeof bindings?.incoming?.headers !== "object" || typeof bindings.outgoing?.writeHead !== "function") {
    return undefined;
  }
  return bindings as NodeBindings;
}

/**
 * Where a lightweight Request records that its body was read (`bodyUsed`, `clone()` refusing): a symbol of
 * @hono/node-server's own, which a Request shows only once read. Learned from the first body read through
 * `c.req.arrayBuffer()`; until then, and on a version that keeps it elsewhere, every body is read that way.
 */
let consumedKey: symbol | undefined;

/** Learns `consumedKey` from a lightweight Request whose body `c.req.arrayBuffer()` read. */
export function learnConsumedKey(raw: Request): void {
  consumedKey ??= Object.getOwnPropertySymbols(raw).find(
    (symbol) => symbol.description === "bodyConsumedDirectly" && (raw as never)[symbol] === true,
  );
}

/**
 * The body of a request that arrived whole with its headers, read from Node's own stream, and left for the handler
 * as `c.req.arrayBuffer()` would have (Hono's body cache filled, the fetch Request marked read). Reading it through
 * `c.req.arrayBuffer()` instead costs @hono/node-server four listeners, a promise and a copy of the bytes; the
 * replay of a small request paid more for that than for the rest of its body handling. `undefined` when the body is
 * still arriving, someone else started reading it, or the method is one whose body fetch ignores (GET, HEAD): the
 * caller reads through `c.req.arrayBuffer()`.
 *
 * Call it one microtask after the request came in (`await undefined`): Node's parser emits the request before it
 * pushes the body it already received, and one microtask later a body that came in the packets that carried the
 * headers is buffered, though the message is not marked complete yet. The caller awaits rather than this function,
 * which spares every request a second async function and its promise.
 */
export function receivedBody(
  incoming: IncomingMessage,
  request: HonoRequest,
  declared: number,
): Uint8Array | undefined {
  // Node's parser lets no more body through than the Content-Length declared, so a buffer that long is the whole body.
  const raw = request.raw as unknown as Record<symbol, unknown>;
  if (
    consumedKey === undefined ||
    raw[consumedKey] !== undefined ||
    request.method === "GET" ||
    request.method === "HEAD" ||
    incoming.readableFlowing !== null ||
    incoming.readableDidRead ||
    incoming.readableEncoding !== null ||
    incoming.readableLength !== declared ||
    hasAny(request.bodyCache)
  ) {
    return undefined;
  }
  const chunk = incoming.read() as Buffer;
  // Flowing, the stream ends (`readableEnded`) once the parser marks the message complete, as it does for a reader
  // on its `data` events; @hono/node-server otherwise drains it after the response, with a timer per request.
  incoming.resume();
  raw[consumedKey] = true;
  // The parser copies each body chunk into a buffer of its own, which the handler may then have as it is.
  const buffer =
    chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength
      ? (chunk.buffer as ArrayBuffer)
      : (chunk.buffer.slice(chunk.byteOffset, chunk.byteOffset + chunk.byteLength) as ArrayBuffer);
  // Hono types the cache by the values; it holds promises of them.
  (request.bodyCache as Record<string, unknown>).arrayBuffer = Promise.resolve(buffer);
  return new Uint8Array(buffer);
}

/** Whether Hono's body cache holds anything: what someone read before, in whatever form. */
function hasAny(cache: HonoRequest["bodyCache"]): boolean {
  for (const _ in cache) return true;
  return false;
}

/**
 * Where a lightweight Response keeps `[status, body, headers]` until something makes it build a real one: a symbol of
 * @hono/node-server's own, found by its description on the first Response that has it. A version that keeps it
 * elsewhere gets the fetch path, slower but the same answer.
 */
let cacheKey: symbol | undefined;
type Cache = [status: number, body: unknown, headers: unknown];

function cacheOf(response: Response): Cache | undefined {
  if (cacheKey === undefined) {
    cacheKey = Object.getOwnPropertySymbols(response).find(
      (symbol) => symbol.description === "cache" && isCache((response as never)[symbol]),
    );
    if (cacheKey === undefined) return undefined;
  }
  const cache = (response as unknown as Record<symbol, unknown>)[cacheKey];
  return isCache(cache) ? cache : undefined;
}

function isCache(value: unknown): value is Cache {
  return Array.isArray(value) && value.length === 3 && typeof value[0] === "number";
}

/** The content type @hono/node-server writes for a body whose response names none. */
const DEFAULT_CONTENT_TYPE = "text/plain; charset=UTF-8";
const NULL_BODY_STATUS = new Set([204, 205, 304]);
const EMPTY = new Uint8Array(0);
/** Encodes as Node.js writes a string body (UTF-8, a lone surrogate as U+FFFD). */
const utf8 = new TextEncoder();
/** What Node.js refuses in a header name or value (`writeHead` throws). */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

/**
 * A handler's lightweight Response as @hono/node-server will write it (status, headers, bytes), read without making
 * it build a real one, so it can still be sent as it is. `undefined` for anything else: a real Response, a stream or
 * Blob body, or one a fetch Response would refuse (a status outside 200-599, a body on 204/205/304, a header Node
 * refuses), which the caller reads through fetch as on any runtime.
 */
export function writtenResponse(response: Response): CapturedResponse | undefined {
  const cache = cacheOf(response);
  if (cache === undefined) return undefined;
  const [status, body, headers] = cache;
  if (status < 200 || status > 599 || (body !== null && NULL_BODY_STATUS.has(status))) return undefined;
  let bytes: Uint8Array;
  if (body === null) bytes = EMPTY;
  else if (typeof body === "string") bytes = utf8.encode(body);
  else if (body instanceof Uint8Array) bytes = body;
  else return undefined;
  const pairs = writtenHeaders(headers, body !== null);
  return pairs && { status, headers: pairs, body: bytes };
}

/**
 * The header lines @hono/node-server writes for a response's headers (the rules of its `responseViaCache`): a plain
 * record as it is; a `Headers` (what Hono builds once headers were set) through it, plus a default content type
 * where there is a body and none is named; none but that default type when there are none. `undefined` for a list of
 * pairs, or when Node would refuse a header.
 */
function writtenHeaders(headers: unknown, hasBody: boolean): [string, string][] | undefined {
  if (headers === undefined || headers === null) return hasBody ? [["content-type", DEFAULT_CONTENT_TYPE]] : [];
  if (headers instanceof Headers) {
    const pairs = [...headers];
    if (hasBody && !headers.has("content-type")) pairs.push(["content-type", DEFAULT_CONTENT_TYPE]);
    return pairs;
  }
  if (Array.isArray(headers)) return undefined;
  const pairs: [string, string][] = [];
  const record = headers as Record<string, unknown>;
  for (const name in record) {
    const value = record[name];
    if (value === undefined) continue;
    if (!HEADER_NAME.test(name)) return undefined;
    const lower = name.toLowerCase();
    if (!Array.isArray(value)) {
      if (!addPair(pairs, lower, value)) return undefined;
      continue;
    }
    for (const item of value) if (!addPair(pairs, lower, item)) return undefined;
  }
  return pairs;
}

/** Adds a header line as Node.js writes the value (as text); `false` for a value Node refuses. */
function addPair(pairs: [string, string][], name: string, value: unknown): boolean {
  const text = String(value);
  if (INVALID_VALUE.test(text)) return false;
  pairs.push([name, text]);
  return true;
}
