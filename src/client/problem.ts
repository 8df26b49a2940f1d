import type { ProblemDetails } from "./errors.js";
import type { ResponseFacts } from "./policy.js";

/**
 * Reads the parts of an error body that say why: RFC 9457 problem+json (`type`, `title`, `detail`, `code`) or
 * Stripe's `{ "error": { "type", "code", "message" } }`. `undefined` when the body is not a JSON object.
 *
 * @example
 * problemDetails('{"type":"urn:oncely:problem:in-flight","title":"..."}')?.type; // "urn:oncely:problem:in-flight"
 */
export function problemDetails(body: unknown): ProblemDetails | undefined {
  let value = body;
  try {
    if (typeof value === "string") value = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (!isRecord(value)) return undefined;
  const stripe = isRecord(value.error) && value.type === undefined;
  const source = stripe ? (value.error as Record<string, unknown>) : value;
  return {
    type: text(source.type),
    title: text(stripe ? source.message : value.title),
    detail: text(stripe ? source.message : value.detail),
    code: text(source.code),
    body: value,
  };
}

/** `application/json` or any `+json` type (`application/problem+json`), parameters ignored. */
const JSON_TYPE = /^\s*(application\/|[^;]*\+)json\s*(;|$)/i;

/**
 * A response as the policy needs it, for any adapter. Only a 400, 409 or 422 JSON answer can say something the
 * status does not (a refused key, a request still in flight), so only then is `readBody` called.
 *
 * @param readBody the body as text or as already parsed JSON
 */
export async function responseFacts(
  status: number,
  header: ResponseFacts["header"],
  readBody: () => unknown,
): Promise<ResponseFacts> {
  const telling = (status === 400 || status === 409 || status === 422) && JSON_TYPE.test(header("content-type") ?? "");
  return { status, header, problem: telling ? problemDetails(await readBody()) : undefined };
}

/** A fetch `Response` as the policy needs it; the body is read from a clone, so the caller still gets all of it. */
export function fetchResponseFacts(response: Response): Promise<ResponseFacts> {
  return responseFacts(
    response.status,
    (name) => response.headers.get(name),
    () => response.clone().text(),
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function text(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}
