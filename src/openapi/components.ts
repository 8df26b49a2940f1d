import type { ProblemStatus } from "./problems.js";

/** The names oncely's parts of the document are kept under in `components`. */
export const NAMES = {
  problem: "IdempotencyProblem",
  replayed: "IdempotentReplayed",
  retryAfter: "IdempotencyRetryAfter",
  key: "IdempotencyKey",
  requiredKey: "IdempotencyKeyRequired",
  expires: "IdempotencyKeyExpires",
} as const;

type JsonObject = Record<string, unknown>;

/** What oncely adds under `components`, by section (`schemas`, `headers`, `parameters`, `responses`). */
export type Components = Record<"schemas" | "headers" | "parameters" | "responses", Record<string, JsonObject>>;

/** A `$ref` to a component. */
export function ref(section: keyof Components, name: string): { $ref: string } {
  return { $ref: `#/components/${section}/${name}` };
}

/**
 * oncely's components for a key sent in `header`, at most `maxKeyLength` characters. Each problem response is a
 * `components.responses` entry that operations refer to, so the document holds one copy of each.
 */
export function idempotencyComponents(
  header: string,
  maxKeyLength: number,
  problems: readonly ProblemStatus[],
  expiryHeader?: string,
): Components {
  const responses: Record<string, JsonObject> = {};
  for (const { component, description, errors, retryAfter, status } of problems) {
    const examples: Record<string, JsonObject> = {};
    for (const error of errors) {
      const value = { type: error.type, title: error.title, status, detail: error.detail, code: error.code };
      examples[error.code] = {
        summary: error.title,
        value: retryAfter ? { ...value, retryAfter: error.retryAfter } : value,
      };
    }
    const specific: JsonObject = {
      type: "object",
      properties: {
        type: { type: "string", enum: errors.map((error) => error.type) },
        code: { type: "string", enum: errors.map((error) => error.code) },
        status: { type: "integer", enum: [status] },
      },
    };
    if (retryAfter) specific["required"] = ["retryAfter"];
    responses[component] = {
      description,
      ...(retryAfter ? { headers: { "Retry-After": ref("headers", NAMES.retryAfter) } } : {}),
      content: {
        "application/problem+json": { schema: { allOf: [ref("schemas", NAMES.problem), specific] }, examples },
      },
    };
  }

  const keyParameter = (required: boolean): JsonObject => ({
    name: header,
    in: "header",
    required,
    description:
      "A value the client makes up for one operation (a UUID v4, say) and sends again, unchanged, on every retry " +
      "of that operation. The first request runs; a retry gets the stored response, with `Idempotent-Replayed: " +
      `true\`, for as long as the key is kept. Visible ASCII characters only, at most ${maxKeyLength}. ` +
      (required
        ? "Required: a request without it is answered 400."
        : "Optional: a request without it runs as if it were unguarded."),
    schema: { type: "string", minLength: 1, maxLength: maxKeyLength, pattern: "^[!-~]+$" },
    example: "8e03978e-40d5-43e8-bc93-6894a57f9324",
  });

  return {
    schemas: {
      [NAMES.problem]: {
        type: "object",
        description:
          "An RFC 9457 problem detail (`application/problem+json`) for a request oncely answered without running " +
          "the operation. Match on `code` (or `type`): both are stable.",
        required: ["type", "title", "status", "detail", "code"],
        properties: {
          type: { type: "string", format: "uri-reference", description: "The problem type, one per `code`." },
          title: { type: "string", description: "A short summary, the same for every problem of this type." },
          status: { type: "integer", description: "The HTTP status." },
          detail: { type: "string", description: "What happened to this request, in words." },
          code: { type: "string", description: "A stable machine-readable code (`in_flight`, ...)." },
          instance: { type: "string", description: "The request's path." },
          retryAfter: {
            type: "integer",
            minimum: 1,
            description: "Seconds to wait before retrying with the same key; the `Retry-After` header says the same.",
          },
        },
      },
    },
    headers: {
      [NAMES.replayed]: {
        description:
          "`true` when this response is the stored response of an earlier request with the same idempotency key " +
          "(the operation did not run again); absent otherwise.",
        schema: { type: "string", enum: ["true"] },
      },
      [NAMES.retryAfter]: {
        description: "Seconds to wait before retrying with the same idempotency key.",
        required: true,
        schema: { type: "integer", minimum: 1 },
      },
      ...(expiryHeader
        ? {
            [NAMES.expires]: {
              description:
                "Until when the server keeps this idempotency key (an HTTP-date): a retry with it before then gets " +
                "this same response. On the first response, the key is kept at least until then.",
              schema: { type: "string" },
              example: "Tue, 08 Dec 2026 11:45:00 GMT",
            },
          }
        : {}),
    },
    parameters: { [NAMES.key]: keyParameter(false), [NAMES.requiredKey]: keyParameter(true) },
    responses,
  };
}
