import type { ProblemDetails } from "./errors.js";
import { type ResponseFacts, wantsProblemBody } from "./policy.js";

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
  const stripe = isRecord(value.error) && value.type === undefined ? value.error : undefined;
  const source = stripe ?? value;
  return {
    type: text(source.type),
    title: text(stripe ? stripe.message : value.title),
    detail: text(stripe ? stripe.message : value.detail),
    code: text(source.code),
    body: value,
  };
}

/** True for content types whose body may be a problem or a JSON error object worth reading before deciding. */
export function isJsonContentType(contentType: string | null | undefined): boolean {
  if (!contentType) return false;
  const type = contentType.split(";")[0]!.trim().toLowerCase();
  return type === "application/json" || type.endsWith("+json");
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function text(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

/** A fetch `Response` as the policy needs it; the body of a 400/409/422 JSON answer is read from a clone. */
export async function fetchResponseFacts(response: Response): Promise<ResponseFacts> {
  const header = (name: string) => response.headers.get(name);
  const { status } = response;
  const wanted = wantsProblemBody(status) && isJsonContentType(header("content-type"));
  return { status, header, problem: wanted ? problemDetails(await response.clone().text()) : undefined };
}
