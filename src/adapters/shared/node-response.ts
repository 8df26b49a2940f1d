import type { OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { CapturedResponse } from "../../core/guard.js";
import type { ResponseData } from "../../core/response.js";

/** Writes an engine response (a replay or a problem) to a node:http response. */
export function sendNodeResponse(res: ServerResponse, response: ResponseData): void {
  // One flat [name, value, ...] list for writeHead: no object keyed by header name to build and walk again. A name
  // that repeats (two Link headers) is given once with all its values: writeHead sets each name it is given, so a
  // second entry of a name would replace the first when headers were set before (X-Powered-By, CORS).
  const headers: (string | string[])[] = [];
  for (const [name, value] of response.headers) {
    if (name === "content-length") continue;
    const at = valueIndex(headers, name);
    if (at === -1) headers.push(name, value);
    else {
      const existing = headers[at]!;
      headers[at] = typeof existing === "string" ? [existing, value] : [...existing, value];
    }
  }
  headers.push("content-length", String(response.body.byteLength));
  res.writeHead(response.status, headers as string[]);
  res.end(response.body);
}

/** Where `name`'s value is in a flat header list, or -1. */
function valueIndex(headers: readonly (string | string[])[], name: string): number {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) return i + 1;
  return -1;
}

/** Stores (or releases) a captured response before it goes out; resolves to a response to send instead, if any. */
export type Settle = (response: CapturedResponse) => Promise<ResponseData | undefined>;

type Held = Pick<ServerResponse, "writeHead" | "write" | "end" | "flushHeaders">;
type HeldName = keyof Held;
const HELD: readonly HeldName[] = ["writeHead", "write", "end", "flushHeaders"];

/** One response while oncely holds it back. */
class Hold {
  readonly chunks: Buffer[] = [];
  /**
   * Set once the app ends the response. From then on what it writes or ends (a second `end` from an error path, say)
   * is dropped, as after a real end: reaching the socket, it would go out before the held response and turn that
   * response's own end into a write after end, which crashes the process.
   */
  ended = false;

  constructor(
    readonly settle: Settle,
    /** Headers set before the handler ran (CORS, a request id): kept if its answer is replaced, unlike the handler's. */
    readonly outer: OutgoingHttpHeaders,
    /** The holding methods, as the response's class has them. */
    readonly methods: Partial<Held>,
    /** The methods oncely stood in front of (another wrapper's), put back on release. */
    readonly displaced: Partial<Held> | undefined,
    /** The hold this one sits inside (oncely guarding the same response twice), current again after release. */
    readonly outerHold: Hold | undefined,
  ) {}
}

/** The responses oncely holds now. */
const holds = new WeakMap<ServerResponse, Hold>();
/** The holding methods installed on each Express app's response prototype, or on each response of other servers. */
const installed = new WeakMap<object, Partial<Held>>();

/**
 * Holds back everything a handler writes (`writeHead`, `write`, `end`, streams piped in, Express's `send`/`json`),
 * so the outcome is stored before a single byte reaches the client: an immediate retry then finds it stored.
 * When the handler ends, `settle` runs, then the response goes out unchanged, or the response `settle` gives instead
 * (the outcome was undone: the client must retry).
 *
 * In an Express app the holding methods live on the app's response prototype (`app.response`, the app's own object,
 * which Express puts in front of each of its responses), installed once, and act on the responses in `holds` only;
 * the app's other responses pass straight through them. Assigning them to each response instead, as wrappers usually
 * do, cost Express about 28 µs per request next to a bare request's 160 (measured with `req.idempotency` set too):
 * Express gives every response a hidden class of its own, so each property added to one copies that class. Other
 * responses (plain node:http, Koa) share one hidden class, and get the methods as their own properties: Node's
 * `ServerResponse.prototype` is never changed, since that would route every response of the process, other servers'
 * too, through oncely. A method that something put in front of the prototype's (`compression()` mounted before
 * oncely) is still stood in front of, on the response itself, as before.
 */
export function captureNodeResponse(res: ServerResponse, settle: Settle): void {
  const methods = holdingMethods(res);
  let displaced: Partial<Held> | undefined;
  for (const name of HELD) {
    const holding = methods[name];
    const current = res[name];
    if (holding === undefined || current === holding) continue;
    displaced ??= {};
    (displaced as Record<HeldName, unknown>)[name] = current;
    (res as unknown as Record<HeldName, unknown>)[name] = holding;
  }
  holds.set(res, new Hold(settle, res.getHeaders(), methods, displaced, holds.get(res)));
}

/** Stops holding `res` without settling: what the app wrote so far is dropped, what it writes next goes out. */
export function stopHolding(res: ServerResponse): void {
  const hold = holds.get(res);
  if (hold) unhold(res, hold);
}

/** The holding methods of `res`, installed on its Express app's response prototype, or else on `res` itself. */
function holdingMethods(res: ServerResponse): Partial<Held> {
  const prototype = Object.getPrototypeOf(res) as object | null;
  const owner = isExpressAppResponse(prototype) ? prototype : res;
  let methods = installed.get(owner);
  if (methods === undefined) {
    methods = holdingMethodsOn(owner as Held);
    installed.set(owner, methods);
  }
  return methods;
}

/** Whether `prototype` is an Express app's `app.response`: the object Express makes per app, its `app` its own. */
function isExpressAppResponse(prototype: object | null): prototype is object {
  if (prototype === null || !Object.hasOwn(prototype, "app")) return false;
  return (prototype as { app?: { response?: unknown } }).app?.response === prototype;
}

/**
 * Installs the holding methods on an Express app's response prototype, or on one response. Each passes a call on to
 * the method it stands in front of unless the response is held: the owner's own, or (for methods it inherits, such
 * as `end` from `OutgoingMessage`) the inherited one as it is at the time of the call. A method the response lacks
 * is left out.
 */
function holdingMethodsOn(owner: Held): Partial<Held> {
  const parent = Object.getPrototypeOf(owner) as Held | null;
  const original = <Name extends HeldName>(name: Name): (() => Held[Name]) => {
    const own = Object.hasOwn(owner, name) ? owner[name] : undefined;
    return own ? () => own : () => parent![name];
  };
  const originalWriteHead = original("writeHead");
  const originalWrite = original("write");
  const originalEnd = original("end");
  const originalFlushHeaders = original("flushHeaders");
  const methods: Held = {
    writeHead: function holdingWriteHead(this: ServerResponse, status: number, reason?: unknown, headers?: unknown) {
      const hold = holds.get(this);
      if (hold === undefined) {
        return (originalWriteHead() as (...args: unknown[]) => ServerResponse).call(this, status, reason, headers);
      }
      if (!hold.ended) holdHead(this, status, reason, headers);
      return this;
    } as Held["writeHead"],
    write: function holdingWrite(this: ServerResponse, chunk: unknown, encoding?: unknown, callback?: unknown) {
      const hold = holds.get(this);
      if (hold === undefined) return originalWrite().call(this, chunk, encoding as BufferEncoding, callback as never);
      if (hold.ended) return false;
      if (chunk !== undefined && chunk !== null) hold.chunks.push(toBuffer(chunk, encoding));
      const done = typeof encoding === "function" ? encoding : callback;
      if (typeof done === "function") queueMicrotask(() => done());
      return true;
    } as Held["write"],
    end: function holdingEnd(this: ServerResponse, chunk?: unknown, encoding?: unknown, callback?: unknown) {
      const hold = holds.get(this);
      if (hold === undefined) return originalEnd().call(this, chunk, encoding as BufferEncoding, callback as never);
      if (!hold.ended) holdEnd(this, hold, chunk, encoding, callback);
      return this;
    } as Held["end"],
    flushHeaders: function holdingFlushHeaders(this: ServerResponse) {
      if (!holds.has(this)) originalFlushHeaders().call(this);
    },
  };
  const present: Partial<Held> = {};
  for (const name of HELD) {
    if (typeof owner[name] !== "function") continue;
    (present as Record<HeldName, unknown>)[name] = methods[name];
    Object.defineProperty(owner, name, { value: methods[name], writable: true, enumerable: true, configurable: true });
  }
  return present;
}

/** The held `writeHead`: its status, message and headers are set on the response, to go out on release. */
export function holdHead(res: ServerResponse, status: number, reason: unknown, headers: unknown): void {
  res.statusCode = status;
  if (typeof reason === "string") res.statusMessage = reason;
  else headers = reason;
  if (Array.isArray(headers)) {
    for (let i = 0; i + 1 < headers.length; i += 2) res.setHeader(String(headers[i]), headers[i + 1] as string);
  } else if (headers) {
    for (const [name, value] of Object.entries(headers as OutgoingHttpHeaders)) {
      if (value !== undefined) res.setHeader(name, value);
    }
  }
}

/** The held `end`: the response is complete, so it is settled, then released. */
function holdEnd(res: ServerResponse, hold: Hold, chunk: unknown, encoding: unknown, callback: unknown): void {
  hold.ended = true;
  const done = (typeof chunk === "function" ? chunk : typeof encoding === "function" ? encoding : callback) as
    | (() => void)
    | undefined;
  if (chunk !== undefined && chunk !== null && typeof chunk !== "function") hold.chunks.push(toBuffer(chunk, encoding));
  const { chunks } = hold;
  const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  hold.settle({ status: res.statusCode, headers: headerList(res), body }).then(
    (replacement) => {
      unhold(res, hold);
      if (!replacement) return endHeld(res, body, done);
      for (const name of res.getHeaderNames()) res.removeHeader(name);
      for (const [name, value] of Object.entries(hold.outer)) if (value !== undefined) res.setHeader(name, value);
      sendNodeResponse(res, replacement);
      if (typeof done === "function") done();
    },
    () => {
      unhold(res, hold);
      endHeld(res, body, done);
    },
  );
}

/**
 * Ends the hold: calls reach the methods they reached before it again. A wrapper the app put on the response while
 * it was held (a middleware after oncely wrapping `end`) is set aside too, as it already ran for the held calls.
 */
function unhold(res: ServerResponse, hold: Hold): void {
  if (holds.get(res) !== hold) return;
  if (hold.outerHold) holds.set(res, hold.outerHold);
  else holds.delete(res);
  for (const name of HELD) {
    const before = hold.displaced?.[name] ?? hold.methods[name];
    if (before !== undefined && res[name] !== before) (res as unknown as Record<HeldName, unknown>)[name] = before;
  }
}

/**
 * Sends the response the app wrote, held back until now. A Content-Length that disagrees with the held body is made to
 * match it. Without oncely, headers are on the wire after the first write, and an error path that comes later (Express's
 * finalhandler, an error middleware, Nest's exception filter) sees `headersSent` and gives up; while oncely holds the
 * response it answers instead, declaring the length of its own error page only. The bytes past that length would be
 * read as the start of the next response on the connection.
 */
function endHeld(res: ServerResponse, body: Buffer, done: (() => void) | undefined): void {
  const declared = res.getHeader("content-length");
  if (declared !== undefined && body.byteLength > 0 && Number(declared) !== body.byteLength) {
    res.setHeader("content-length", body.byteLength);
  }
  res.end(body, done);
}

export function toBuffer(chunk: unknown, encoding: unknown): Buffer {
  return typeof chunk === "string"
    ? Buffer.from(chunk, typeof encoding === "string" ? (encoding as BufferEncoding) : "utf8")
    : Buffer.from(chunk as Uint8Array);
}

export function headerList(res: ServerResponse): [string, string][] {
  const list: [string, string][] = [];
  const headers = res.getHeaders();
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const item of value) list.push([name, item]);
    else list.push([name, String(value)]);
  }
  return list;
}
