import type { OncelyError } from "./errors.js";
import type { StoredResponse } from "./store.js";

/** A response as oncely passes it between engine and adapters: status, ordered headers, bytes. */
export interface ResponseData {
  /** The HTTP status. */
  status: number;
  /** Lower-case names, in order, repeats allowed. */
  headers: [string, string][];
  /** The body bytes (empty for none). */
  body: Uint8Array;
}

/** A response whose body is sent chunk by chunk as it arrives: a stream a retry follows or replays. */
export interface StreamedResponse {
  /** The HTTP status. */
  status: number;
  /** Lower-case names, in order, repeats allowed. */
  headers: [string, string][];
  /**
   * The body's chunks, each to be written as it comes. It throws a `StreamInterruptedError` when the stream ends
   * early (never for `text/event-stream`, which gets an `oncely-error` event instead): the adapter then cuts the
   * response off without its end, so the client can tell. Stop iterating (`return()`) when the client is gone.
   */
  chunks: AsyncIterable<Uint8Array>;
}

/** Headers that describe one connection or one message, never the outcome, and `set-cookie` (a credential). */
const NEVER_STORED = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "set-cookie",
  "content-length",
  "date",
  "idempotent-replayed",
]);

/** The headers worth replaying: all but `NEVER_STORED`, the `Connection`-named ones and the user's exclusions. */
export function storableHeaders(headers: [string, string][], exclude: ReadonlySet<string>): [string, string][] {
  let connectionNamed: Set<string> | undefined;
  for (const [name, value] of headers) {
    if (name !== "connection") continue;
    connectionNamed ??= new Set();
    for (const token of value.split(",")) connectionNamed.add(token.trim().toLowerCase());
  }
  return headers.filter(([name]) => !NEVER_STORED.has(name) && !exclude.has(name) && !connectionNamed?.has(name));
}

/** The record of an operation that completed but whose response is too large to keep: only its status remains. */
export function notKept(status: number): StoredResponse {
  return { status, headers: [], body: new Uint8Array(0), kept: false };
}

/** The stored outcome as a response, marked `Idempotent-Replayed: true`. */
export function replayResponse(stored: StoredResponse): ResponseData {
  return { status: stored.status, headers: [...stored.headers, ["idempotent-replayed", "true"]], body: stored.body };
}

const encoder = new TextEncoder();

/**
 * An RFC 9457 problem+json answer for an oncely error. Its `detail` is the error's client-safe `detail`, never its
 * message: the cause of a server-side failure goes to the server's log only.
 */
export function problemResponse(error: OncelyError, instance?: string): ResponseData {
  const headers: [string, string][] = [
    ["content-type", "application/problem+json"],
    ["cache-control", "no-store"],
  ];
  if (error.retryAfter !== undefined) headers.push(["retry-after", String(Math.max(1, Math.ceil(error.retryAfter)))]);
  const problem = {
    type: error.type,
    title: error.title,
    status: error.status,
    detail: error.detail,
    code: error.code,
    ...(instance ? { instance } : {}),
    ...(error.retryAfter !== undefined ? { retryAfter: Math.max(1, Math.ceil(error.retryAfter)) } : {}),
  };
  return { status: error.status, headers, body: encoder.encode(JSON.stringify(problem)) };
}
