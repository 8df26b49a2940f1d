import type { EventEmitter } from "node:events";
import type { Readable } from "node:stream";
import { Pool } from "undici";
import type { HeaderRecord } from "./headers.js";

// The one HTTP client the proxy uses: an undici connection pool to the upstream's origin, keep-alive, with the
// upstream timeout applied both to the wait for response headers and to every gap between body chunks.

export interface UpstreamOptions {
  /** The upstream's base URL: `http://127.0.0.1:3000`, or with a path prefix (`http://app:3000/api`). */
  url: string;
  /** The longest wait for the response headers, and between two chunks of the body, ms. */
  timeout: number;
  /** Connections kept open to the upstream at most. @default 256 */
  connections?: number;
}

export interface UpstreamRequest {
  method: string;
  /** The path and query string as the client sent them; the upstream URL's path is put in front. */
  url: string;
  headers: HeaderRecord;
  /** Bytes (a body the proxy read to fingerprint), the client's request stream, or nothing. */
  body: Uint8Array | Readable | null;
  /** Aborts the request: an AbortSignal, or an emitter of `abort` (as undici takes). */
  signal?: AbortSignal | EventEmitter;
}

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The body as it arrives; never buffered here. */
  body: Readable;
}

export interface Upstream {
  /** The upstream URL, for messages. */
  readonly url: string;
  readonly timeout: number;
  request(request: UpstreamRequest): Promise<UpstreamResponse>;
  /** Waits for requests under way, then closes every connection. */
  close(): Promise<void>;
  /** Closes every connection now, failing requests under way. */
  destroy(): Promise<void>;
}

/**
 * Opens a connection pool to the upstream.
 * @throws {TypeError} when the URL is not an http(s) URL
 */
export function connectUpstream(options: UpstreamOptions): Upstream {
  const parsed = URL.parse(options.url);
  if (!parsed || (parsed.protocol !== "http:" && parsed.protocol !== "https:")) {
    throw new TypeError(`Expected the upstream to be an http:// or https:// URL, got ${JSON.stringify(options.url)}`);
  }
  if (parsed.search || parsed.hash) {
    throw new TypeError(`Expected the upstream URL without a query string or fragment: ${JSON.stringify(options.url)}`);
  }
  const prefix = parsed.pathname.replace(/\/+$/, "");
  const pool = new Pool(parsed.origin, {
    connections: options.connections ?? 256,
    headersTimeout: options.timeout,
    bodyTimeout: options.timeout,
    connectTimeout: Math.min(options.timeout, 10_000),
  });
  return {
    url: options.url,
    timeout: options.timeout,
    async request({ method, url, headers, body, signal }) {
      const response = await pool.request({
        method: method as "POST",
        path: prefix + url,
        headers,
        body,
        ...(signal ? { signal } : {}),
      });
      return { status: response.statusCode, headers: response.headers, body: response.body };
    },
    close: () => pool.close(),
    destroy: () => pool.destroy(),
  };
}
