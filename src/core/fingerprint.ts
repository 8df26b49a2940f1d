import { canonicalJson } from "./canonical-json.js";
import { RequestTooLargeError } from "./errors.js";
import { hashParts } from "./hash.js";
import { headerValue, type IdempotencyRequest } from "./request.js";
import { canonicalJsonFromBytes, isCanonicalAsciiJson } from "./strict-json.js";

const JSON_MEDIA_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/**
 * The default request fingerprint: SHA-256 of method, path, query, the named headers and the body. Two requests
 * fingerprint alike only where every mainstream parser reads them as the same request: query parameters are sorted
 * when the query decodes as UTF-8, a JSON body is canonicalised (key order and whitespace ignored, numbers kept as
 * written) when it is valid UTF-8 without repeated keys, and everything else is compared byte for byte.
 */
export function defaultFingerprint(request: IdempotencyRequest, headerNames: readonly string[] = []): string {
  const parts: (string | Uint8Array)[] = [request.method, request.path, sortedQuery(request.query)];
  for (const name of headerNames) parts.push(`${name}:${headerValue(request, name) ?? ""}`);
  parts.push(canonicalBody(request));
  return hashParts(parts);
}

/**
 * The query with its parameters sorted (stably: repeated parameters keep their order, which can carry meaning).
 * `URLSearchParams` decodes `%FF` and `%FE` alike (to U+FFFD), so a query that is not percent-encoded UTF-8 is kept
 * as sent; `decodeURIComponent` refuses exactly those (and malformed escapes such as `%zz`).
 */
function sortedQuery(query: string): string {
  if (!query) return "";
  if (query.includes("%")) {
    try {
      decodeURIComponent(query);
    } catch {
      return query;
    }
  }
  const params = new URLSearchParams(query);
  params.sort();
  return params.toString();
}

function canonicalBody(request: IdempotencyRequest): string | Uint8Array {
  if (request.parsedBody !== undefined && request.body === undefined) {
    // The handler reads this same value, so values the parser made equal are the same request to it.
    const canonical = safeCanonical(request.parsedBody);
    if (canonical === undefined) throw new RequestTooLargeError("The JSON body nests too deeply to fingerprint");
    return canonical;
  }
  const body = request.body;
  if (!body || body.byteLength === 0) return "";
  const contentType = headerValue(request, "content-type");
  if (contentType && isJsonMediaType(contentType)) {
    // Bytes already canonical hash alike as bytes or as their text (both are length-prefixed the same way).
    return isCanonicalAsciiJson(body) ? body : (canonicalJsonFromBytes(body) ?? body);
  }
  return body;
}

/** The Content-Type last tested, and whether it is JSON: a route's clients send one type, tested once. */
let lastContentType = "";
let lastIsJson = false;

function isJsonMediaType(contentType: string): boolean {
  if (contentType !== lastContentType) {
    lastIsJson = JSON_MEDIA_TYPE.test(contentType);
    lastContentType = contentType;
  }
  return lastIsJson;
}

/** Canonical JSON, or `undefined` when the value nests too deep to walk. */
function safeCanonical(value: unknown): string | undefined {
  try {
    return canonicalJson(value);
  } catch (error) {
    if (error instanceof RangeError) return undefined;
    throw error;
  }
}
