import type { IdempotencyRequest } from "./request.js";

/**
 * The size of a body a framework's parser read before oncely, which kept only the parsed value: its `Content-Length`
 * (body parsers check that they read exactly that many bytes), or, for a chunked request, which has none, the length
 * of the value written as compact JSON. That is a lower bound (whitespace and escapes on the wire are not counted),
 * so a chunked body is refused only once its value alone is over the limit.
 */
export function parsedBodySize(headers: IdempotencyRequest["headers"], parsed: unknown): number {
  const declared = headers["content-length"];
  if (typeof declared === "string" && /^\d+$/.test(declared)) return Number(declared);
  try {
    return utf8.encode(JSON.stringify(parsed) ?? "").byteLength;
  } catch {
    return 0; // not JSON-serialisable (a cycle, a bigint): the fingerprint refuses what it cannot walk
  }
}

const utf8 = new TextEncoder();
