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
  if (body == null) return undefined;
  // FormData and Blob are globals wherever fetch is; ReadableStream is missing from React Native.
  if (body instanceof FormData) return serialiseFormData(body, headers);
  if (typeof ReadableStream !== "undefined" && body instanceof ReadableStream) {
    // Not `for await`: Safari's streams are not async iterable.
    const reader = body.getReader();
    return readAll(() => reader.read(), limit);
  }
  // A Blob is sent again as it is, even where a runtime makes it async iterable.
  if (typeof body === "object" && Symbol.asyncIterator in body && !(body instanceof Blob)) {
    const iterator = (body as AsyncIterable<Uint8Array | string>)[Symbol.asyncIterator]();
    return readAll(() => iterator.next(), limit);
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

/** Reads chunks from `next` (a stream reader's `read`, an iterator's `next`) until done, up to `limit` bytes. */
async function readAll(
  next: () => Promise<IteratorResult<Uint8Array | string, unknown>>,
  limit: number,
): Promise<Uint8Array<ArrayBuffer>> {
  const parts: Uint8Array[] = [];
  let size = 0;
  for (let chunk = await next(); !chunk.done; chunk = await next()) {
    const bytes = typeof chunk.value === "string" ? new TextEncoder().encode(chunk.value) : chunk.value;
    size += bytes.byteLength;
    if (size > limit) throw new BodyNotReplayableError(limit);
    parts.push(bytes);
  }
  return concat(parts);
}
