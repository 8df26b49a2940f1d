import type { OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { CapturedResponse } from "../core/guard.js";
import type { ResponseData } from "../core/response.js";

/** Writes an engine response (a replay or a problem) to a node:http response. */
export function sendNodeResponse(res: ServerResponse, response: ResponseData): void {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of response.headers) {
    const existing = headers[name];
    headers[name] = existing === undefined ? value : Array.isArray(existing) ? [...existing, value] : [existing, value];
  }
  headers["content-length"] = String(response.body.byteLength);
  res.writeHead(response.status, headers);
  res.end(response.body);
}

type End = ServerResponse["end"];
type Write = ServerResponse["write"];
type WriteHead = ServerResponse["writeHead"];

/**
 * Holds back everything a handler writes (`writeHead`, `write`, `end`, streams piped in, Express's `send`/`json`),
 * so the outcome is stored before a single byte reaches the client: an immediate retry then finds it stored.
 * When the handler ends, `settle` runs, then the response goes out unchanged, or the response `settle` gives instead
 * (the outcome was undone: the client must retry).
 */
export function captureNodeResponse(
  res: ServerResponse,
  settle: (response: CapturedResponse) => Promise<ResponseData | undefined>,
): void {
  const originals = { writeHead: res.writeHead, write: res.write, end: res.end, flushHeaders: res.flushHeaders };
  // Set before the handler ran (CORS, a request id): kept if its answer is replaced, unlike the handler's own.
  const outer = res.getHeaders();
  const chunks: Buffer[] = [];
  // Set once the app ends the response. From then on what it writes or ends (a second `end` from an error path, say)
  // is dropped, as after a real end: reaching the socket, it would go out before the held response and turn that
  // response's own end into a write after end, which crashes the process.
  let ended = false;
  const toBuffer = (chunk: unknown, encoding?: unknown) =>
    typeof chunk === "string"
      ? Buffer.from(chunk, (encoding as BufferEncoding) ?? "utf8")
      : Buffer.from(chunk as Uint8Array);

  res.writeHead = function writeHead(status: number, ...rest: unknown[]) {
    if (ended) return res;
    res.statusCode = status;
    const [messageOrHeaders, maybeHeaders] = rest;
    if (typeof messageOrHeaders === "string") res.statusMessage = messageOrHeaders;
    const headers = typeof messageOrHeaders === "string" ? maybeHeaders : messageOrHeaders;
    if (Array.isArray(headers)) {
      for (let i = 0; i + 1 < headers.length; i += 2) res.setHeader(String(headers[i]), headers[i + 1] as string);
    } else if (headers) {
      for (const [name, value] of Object.entries(headers as OutgoingHttpHeaders)) {
        if (value !== undefined) res.setHeader(name, value);
      }
    }
    return res;
  } as WriteHead;
  res.flushHeaders = () => {};
  res.write = function write(chunk: unknown, encoding?: unknown, callback?: unknown) {
    if (ended) return false;
    if (chunk !== undefined && chunk !== null)
      chunks.push(toBuffer(chunk, typeof encoding === "string" ? encoding : undefined));
    const done = typeof encoding === "function" ? encoding : callback;
    if (typeof done === "function") queueMicrotask(() => done());
    return true;
  } as Write;
  res.end = function end(chunk?: unknown, encoding?: unknown, callback?: unknown) {
    if (ended) return res;
    ended = true;
    const done = [chunk, encoding, callback].find((arg) => typeof arg === "function") as (() => void) | undefined;
    if (chunk !== undefined && chunk !== null && typeof chunk !== "function") {
      chunks.push(toBuffer(chunk, typeof encoding === "string" ? encoding : undefined));
    }
    const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    settle({ status: res.statusCode, headers: headerList(res), body }).then(
      (replacement) => {
        Object.assign(res, originals);
        if (!replacement) return endHeld(res, body, done);
        for (const name of res.getHeaderNames()) res.removeHeader(name);
        for (const [name, value] of Object.entries(outer)) if (value !== undefined) res.setHeader(name, value);
        sendNodeResponse(res, replacement);
        done?.();
      },
      () => {
        Object.assign(res, originals);
        endHeld(res, body, done);
      },
    );
    return res;
  } as End;
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

function headerList(res: ServerResponse): [string, string][] {
  const list: [string, string][] = [];
  for (const [name, value] of Object.entries(res.getHeaders())) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const item of value) list.push([name, item]);
    else list.push([name, String(value)]);
  }
  return list;
}
