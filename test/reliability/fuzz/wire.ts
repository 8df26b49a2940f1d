import { connect, type Socket } from "node:net";

/** One HTTP/1.1 request exactly as it goes on the wire: header lines are sent as given, repeats and odd bytes too. */
export interface WireRequest {
  method: string;
  path: string;
  /** Name and value pairs, in order; a value is written as latin1 bytes unless it is a Buffer. */
  headers: [string, string | Buffer][];
  body?: Uint8Array;
  /** Sends the body as one chunk of `Transfer-Encoding: chunked` instead of with `Content-Length`. */
  chunked?: boolean;
}

export interface WireResponse {
  status: number;
  /** Lower-case names, in the order they came. */
  headers: [string, string][];
  body: Buffer;
}

/** The first value of a response header, or undefined. */
export function header(response: WireResponse, name: string): string | undefined {
  return response.headers.find(([n]) => n === name)?.[1];
}

/** The request's bytes: request line, headers (`Host` and `Connection: close` first), then the framed body. */
export function encodeRequest(request: WireRequest): Buffer {
  const lines: Buffer[] = [Buffer.from(`${request.method} ${request.path} HTTP/1.1\r\nhost: 127.0.0.1\r\n`)];
  lines.push(Buffer.from("connection: close\r\n"));
  for (const [name, value] of request.headers) {
    lines.push(Buffer.from(`${name}: `, "latin1"), typeof value === "string" ? Buffer.from(value, "latin1") : value);
    lines.push(Buffer.from("\r\n"));
  }
  const body = request.body ?? new Uint8Array(0);
  if (request.chunked) {
    lines.push(Buffer.from("transfer-encoding: chunked\r\n\r\n"));
    if (body.byteLength > 0) lines.push(Buffer.from(`${body.byteLength.toString(16)}\r\n`), Buffer.from(body), CRLF);
    lines.push(Buffer.from("0\r\n\r\n"));
  } else {
    lines.push(Buffer.from(`content-length: ${body.byteLength}\r\n\r\n`), Buffer.from(body));
  }
  return Buffer.concat(lines);
}

const CRLF = Buffer.from("\r\n");
const HEAD_END = Buffer.from("\r\n\r\n");

/**
 * Parses one complete response from the start of `data`, or returns undefined when more bytes are needed (or, with
 * `ended`, when the connection closed: then a body without framing runs to the end).
 */
export function parseResponse(data: Buffer, ended: boolean, requestMethod = "POST"): WireResponse | undefined {
  const headEnd = data.indexOf(HEAD_END);
  if (headEnd < 0) return undefined;
  const [statusLine, ...lines] = data.subarray(0, headEnd).toString("latin1").split("\r\n");
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? "");
  if (!match) throw new Error(`not an HTTP response: ${JSON.stringify(statusLine)}`);
  const status = Number(match[1]);
  const headers = lines.map((line): [string, string] => {
    const colon = line.indexOf(":");
    return [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()];
  });
  const rest = data.subarray(headEnd + 4);
  const get = (name: string) => headers.find(([n]) => n === name)?.[1];
  if (requestMethod === "HEAD" || status === 204 || status === 304 || (status >= 100 && status < 200)) {
    return { status, headers, body: Buffer.alloc(0) };
  }
  if (get("transfer-encoding")?.toLowerCase().includes("chunked")) {
    const chunks: Buffer[] = [];
    let at = 0;
    for (;;) {
      const lineEnd = rest.indexOf(CRLF, at);
      if (lineEnd < 0) return undefined;
      const size = Number.parseInt(rest.subarray(at, lineEnd).toString("latin1").split(";")[0]!, 16);
      if (!Number.isFinite(size)) throw new Error("bad chunk size");
      if (size === 0) {
        // Trailers (none expected) end with an empty line.
        if (rest.indexOf(CRLF, lineEnd + 2) < 0) return undefined;
        return { status, headers, body: Buffer.concat(chunks) };
      }
      if (rest.byteLength < lineEnd + 2 + size + 2) return undefined;
      chunks.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
      at = lineEnd + 2 + size + 2;
    }
  }
  const length = get("content-length");
  if (length !== undefined) {
    const n = Number(length);
    if (rest.byteLength < n) return undefined;
    return { status, headers, body: Buffer.from(rest.subarray(0, n)) };
  }
  return ended ? { status, headers, body: Buffer.from(rest) } : undefined;
}

/** Why a request got no complete response. */
export class WireError extends Error {}

/**
 * Sends one request on a fresh connection and resolves with the response. Rejects with a WireError when the
 * server closes without a complete response or sends none within `timeout` (a hung socket).
 */
export function send(port: number, request: WireRequest, timeout = 10_000): Promise<WireResponse> {
  const bytes = encodeRequest(request);
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: "127.0.0.1" });
    let data = Buffer.alloc(0);
    let settled = false;
    const finish = (error: Error | undefined, response?: WireResponse) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (response) resolve(response);
      else reject(error);
    };
    const timer = setTimeout(
      () => finish(new WireError(`no complete response within ${timeout} ms (got ${data.byteLength} bytes)`)),
      timeout,
    );
    const tryParse = (ended: boolean) => {
      try {
        const response = parseResponse(data, ended, request.method);
        if (response) finish(undefined, response);
        else if (ended) finish(new WireError(`connection closed after ${data.byteLength} bytes, no full response`));
      } catch (error) {
        finish(error as Error);
      }
    };
    socket.on("data", (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      tryParse(false);
    });
    socket.on("end", () => tryParse(true));
    socket.on("close", () => tryParse(true));
    // A server may answer early (413, 400) and close while the body is still going out: the answer still counts.
    socket.on("error", () => tryParse(true));
    socket.write(bytes);
  });
}

/**
 * Sends the head and the first `sent` bytes of a body announced as `request.body`'s full length, then resets the
 * connection: a client that gave up mid-upload. Resolves once the socket is gone; whatever came back is returned.
 */
export function sendAborted(port: number, request: WireRequest, sent: number, pause = 5): Promise<Buffer> {
  const full = encodeRequest({ ...request, chunked: false });
  const bodyLength = request.body?.byteLength ?? 0;
  const cut = full.byteLength - bodyLength + Math.min(sent, Math.max(0, bodyLength - 1));
  return new Promise((resolve) => {
    const socket: Socket = connect({ port, host: "127.0.0.1" });
    let data = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
    });
    socket.on("error", () => {});
    socket.on("close", () => resolve(data));
    socket.write(full.subarray(0, cut), () => {
      setTimeout(() => socket.resetAndDestroy(), pause);
    });
  });
}
