import { canonicalJson } from "./canonical-json.js";
import { RequestTooLargeError } from "./errors.js";
import { hashParts } from "./hash.js";
import { headerValue, type IdempotencyRequest } from "./request.js";

/** Keeps a byte order mark, as the bytes hold it: a JSON body that starts with one is compared as bytes. */
const utf8 = new TextDecoder("utf-8", { ignoreBOM: true });
const JSON_MEDIA_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/**
 * The default request fingerprint: SHA-256 of method, path, query (parameters sorted), the named headers and the
 * canonical body. JSON bodies ignore key order and whitespace; every other body is compared byte for byte.
 */
export function defaultFingerprint(request: IdempotencyRequest, headerNames: readonly string[] = []): string {
  const parts: (string | Uint8Array)[] = [request.method, request.path, sortedQuery(request.query)];
  for (const name of headerNames) parts.push(`${name}:${headerValue(request, name) ?? ""}`);
  parts.push(canonicalBody(request));
  return hashParts(parts);
}

function sortedQuery(query: string): string {
  if (!query) return "";
  const params = new URLSearchParams(query);
  params.sort(); // stable: repeated parameters keep their relative order, which can carry meaning
  return params.toString();
}

function canonicalBody(request: IdempotencyRequest): string | Uint8Array {
  if (request.parsedBody !== undefined && request.body === undefined) {
    const canonical = safeCanonical(request.parsedBody);
    if (canonical === undefined) throw new RequestTooLargeError("The JSON body nests too deeply to fingerprint");
    return canonical;
  }
  const body = request.body;
  if (!body || body.byteLength === 0) return "";
  const contentType = headerValue(request, "content-type");
  if (contentType && JSON_MEDIA_TYPE.test(contentType)) {
    try {
      return safeCanonical(JSON.parse(utf8.decode(body))) ?? body;
    } catch {
      return body; // not valid JSON: compare the bytes themselves
    }
  }
  return body;
}

/** Canonical JSON, or `undefined` when the value nests too deep to walk (then the caller falls back to bytes). */
function safeCanonical(value: unknown): string | undefined {
  try {
    return canonicalJson(value);
  } catch (error) {
    if (error instanceof RangeError) return undefined;
    throw error;
  }
}
