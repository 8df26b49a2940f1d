import type { ProblemDetails } from "./errors.js";

/**
 * Reads the parts of an error body that say why: RFC 9457 problem+json (`type`, `title`, `detail`, `code`) or
 * Stripe's `{ "error": { "type", "code", "message" } }`. `undefined` when the body is not a JSON object.
 *
 * @example
 * problemDetails('{"type":"urn:oncely:problem:in-flight","title":"..."}')?.type; // "urn:oncely:problem:in-flight"
 */
export function problemDetails(body: unknown): ProblemDetails | undefined {
  let value = body;
  if (typeof value === "string") {
    try {
      value = JSON.parse(value);
    } catch {
      return undefined;
    }
  }
  if (!isRecord(value)) return undefined;
  const stripe = value.error;
  if (isRecord(stripe) && value.type === undefined) {
    return {
      type: text(stripe.type),
      title: text(stripe.message),
      detail: text(stripe.message),
      code: text(stripe.code),
      body: value,
    };
  }
  return {
    type: text(value.type),
    title: text(value.title),
    detail: text(value.detail),
    code: text(value.code),
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
