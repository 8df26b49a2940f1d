import { concat } from "../core/bytes.js";
import { BodyNotReplayableError } from "./errors.js";

/** The header methods used here; `Headers` and axios's `AxiosHeaders` both have them. */
interface HeaderBag {
  get(name: string): unknown;
  set(name: string, value: string): unknown;
}

/**
 * A request body that can be sent on every attempt and arrives byte-identical each time (the server fingerprints
 * it: different bytes under the same key are answered 422).
 *
 * - string, ArrayBuffer, typed arrays, Blob and URLSearchParams are sent again as they are;
 * - FormData is serialised once, because every send picks a new multipart boundary (new bytes); its
 *   `Content-Type` (with that boundary) is set on `headers` unless the caller set another type;
 * - a ReadableStream or async iterable is read into memory once, up to `limit` bytes; a longer one throws
 *   `BodyNotReplayableError` before anything is sent.
 *
 * @example
 * const body = await replayableBody(init.body, headers, 1_048_576);
 */
export async function replayableBody(body: unknown, headers: HeaderBag, limit: number): Promise<BodyInit | undefined> {
  if (body === null || body === undefined) return undefined;
  if (typeof FormData !== "undefined" && body instanceof FormData) return serialiseFormData(body, headers);
  if (typeof ReadableStream !== "undefined" && body instanceof ReadableStream) return readAll(iterate(body), limit);
  if (isAsyncIterable(body) && !(typeof Blob !== "undefined" && body instanceof Blob)) {
    return readAll(body as AsyncIterable<Uint8Array | string>, limit);
  }
  return body as BodyInit;
}

async function serialiseFormData(form: FormData, headers: HeaderBag): Promise<BodyInit> {
  try {
    const encoded = new Response(form);
    const bytes = new Uint8Array(await encoded.arrayBuffer());
    const type = encoded.headers.get("content-type");
    // The boundary must be the one in these bytes; a hand-set "multipart/form-data" (a common axios habit) lacks it.
    const existing = headers.get("content-type");
    if (type && (typeof existing !== "string" || /^\s*multipart\/form-data/i.test(existing))) {
      headers.set("content-type", type);
    }
    return bytes;
  } catch {
    // React Native's fetch cannot encode FormData outside a request: send it as is. Retries then carry a new
    // boundary, which a server that fingerprints raw bytes answers with 422 (documented).
    return form;
  }
}

async function* iterate(stream: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    reader.releaseLock();
  }
}

async function readAll(chunks: AsyncIterable<Uint8Array | string>, limit: number): Promise<Uint8Array<ArrayBuffer>> {
  const encoder = new TextEncoder();
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of chunks) {
    const bytes = typeof chunk === "string" ? encoder.encode(chunk) : chunk;
    size += bytes.byteLength;
    if (size > limit) throw new BodyNotReplayableError(limit);
    parts.push(bytes);
  }
  return concat(parts);
}

function isAsyncIterable(value: unknown): boolean {
  return typeof value === "object" && value !== null && Symbol.asyncIterator in value;
}
