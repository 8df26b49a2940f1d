/**
 * `oncely/openapi`: oncely's contract in an OpenAPI 3.0 or 3.1 document. `documentIdempotency` adds, to each
 * operation oncely guards, the `Idempotency-Key` header parameter, the `Idempotent-Replayed` response header and
 * the problem responses (400, 409, 410, 413, 422, 429, 503) the server answers without running the operation. It
 * is a pure function of plain objects: apply it to a document you write, or to the one `@fastify/swagger` or Hono's
 * OpenAPI tooling generates.
 *
 * @example
 * import { documentIdempotency } from "oncely/openapi";
 * const documented = documentIdempotency(openapiDocument, { operations: [{ method: "POST", path: "/charges", required: true }] });
 *
 * @module oncely/openapi
 */
import { type Components, idempotencyComponents } from "./components.js";
import { guardOperations } from "./operations.js";
import { type OpenApiOptions, resolveOpenApiOptions } from "./options.js";
import { problemStatuses } from "./problems.js";

export type { OpenApiOptions, OperationChoice, OperationInfo, OperationRef, OperationSelector } from "./options.js";

/**
 * Returns a copy of an OpenAPI 3.0 or 3.1 document in which every operation oncely guards documents its contract:
 * - the key header parameter (`Idempotency-Key`, or the `header` option), required where the route requires a key;
 * - the `Idempotent-Replayed` header on each documented response a retry may get replayed (the statuses `storeWhen`
 *   keeps: below 500 by default);
 * - `application/problem+json` responses (RFC 9457) for 400, 409, 410, 413, 422, 429 and 503, whose `type` and
 *   `code` are the values the server sends, with `Retry-After` on 409, 429 and 503.
 *
 * The parts are added once under `components` (`IdempotencyProblem`, `IdempotentReplayed`, `IdempotencyRetryAfter`,
 * `IdempotencyKey`, `IdempotencyKeyRequired`, and one `components.responses` entry per status) and referred to from
 * each operation. What the document already says wins: a response it documents for one of those statuses, or a
 * header parameter of the key's name, is kept as it is. Applying the function to its own result changes nothing.
 * The input is never modified.
 *
 * @param document an OpenAPI 3.0 or 3.1 document, as a plain object (JSON data)
 * @param options which operations oncely guards, and the engine's settings the document must follow
 * @returns the documented copy, typed as the input
 * @throws {TypeError} when `document` is not an OpenAPI 3.0 or 3.1 document, when an option is unknown or of the
 * wrong kind, when `operations` lists an operation the document does not have, or when `components` already holds
 * a different entry under one of oncely's names
 *
 * @example
 * import { documentIdempotency } from "oncely/openapi";
 *
 * const documented = documentIdempotency(
 *   { openapi: "3.1.0", info: { title: "Payments", version: "1" }, paths: { "/charges": { post: { responses: { "201": { description: "Created" } } } } } },
 *   { required: true },
 * );
 */
export function documentIdempotency<Document extends object>(document: Document, options?: OpenApiOptions): Document {
  const resolved = resolveOpenApiOptions(options);
  const copy = openApiCopy(document);
  const problems = problemStatuses();
  if (guardOperations(copy, resolved, problems) > 0) {
    addComponents(copy, idempotencyComponents(resolved.header, resolved.maxKeyLength, problems, resolved.expiryHeader));
  }
  return copy as Document;
}

/** A deep copy of `document`, once it is known to be an OpenAPI 3.0 or 3.1 document. */
function openApiCopy(document: unknown): Record<string, unknown> {
  if (typeof document !== "object" || document === null || Array.isArray(document)) {
    throw new TypeError("Expected an OpenAPI 3.0 or 3.1 document (an object)");
  }
  const version = (document as Record<string, unknown>)["openapi"];
  if (typeof version !== "string" || !/^3\.[01]\./.test(version)) {
    const swagger = (document as Record<string, unknown>)["swagger"];
    throw new TypeError(
      swagger === undefined
        ? `Expected an OpenAPI 3.0 or 3.1 document; its \`openapi\` field is ${JSON.stringify(version)}`
        : `Expected an OpenAPI 3.0 or 3.1 document; this one is Swagger ${String(swagger)} (generate OpenAPI 3 instead)`,
    );
  }
  try {
    return structuredClone(document) as Record<string, unknown>;
  } catch (error) {
    throw new TypeError("Expected the OpenAPI document to be plain data (no functions or class instances)", {
      cause: error,
    });
  }
}

/**
 * Writes oncely's components into `document.components`. An entry already there under one of oncely's names must
 * be oncely's, written with the same options: anything else is the app's own and is not overwritten.
 */
function addComponents(document: Record<string, unknown>, components: Components): void {
  const target = (document["components"] ?? {}) as Record<string, Record<string, unknown> | undefined>;
  document["components"] = target;
  for (const [section, entries] of Object.entries(components)) {
    const existing = target[section] ?? {};
    target[section] = existing;
    for (const [name, value] of Object.entries(entries)) {
      if (existing[name] === undefined) existing[name] = value;
      else if (JSON.stringify(existing[name]) !== JSON.stringify(value)) {
        throw new TypeError(
          `The document's components.${section}.${name} differs from oncely's: it is the app's own, or was ` +
            "written with other options. Rename it, or remove it to have it written again",
        );
      }
    }
  }
}
