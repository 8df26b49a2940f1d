import { describe, expect, it } from "vitest";
import * as errors from "../../src/core/errors.js";
import { documentIdempotency, type OpenApiOptions } from "../../src/openapi/index.js";
import { validateAgainst } from "./schema-validator.js";

// biome-ignore lint/suspicious/noExplicitAny: the tests walk into generated documents whose shape they assert.
type JsonObject = Record<string, any>;

const PROBLEM_RESPONSES = {
  "400": { $ref: "#/components/responses/IdempotencyKeyRejected" },
  "409": { $ref: "#/components/responses/IdempotencyRequestInFlight" },
  "410": { $ref: "#/components/responses/IdempotencyResponseNotKept" },
  "413": { $ref: "#/components/responses/IdempotencyRequestTooLarge" },
  "422": { $ref: "#/components/responses/IdempotencyKeyReused" },
  "429": { $ref: "#/components/responses/IdempotencyKeyRateLimited" },
  "503": { $ref: "#/components/responses/IdempotencyStoreUnavailable" },
};
const KEY = { $ref: "#/components/parameters/IdempotencyKey" };
const REQUIRED_KEY = { $ref: "#/components/parameters/IdempotencyKeyRequired" };
const REPLAYED = { "Idempotent-Replayed": { $ref: "#/components/headers/IdempotentReplayed" } };

/** A small API: charges to create, list, read, refund and update. */
function payments(version = "3.1.0"): JsonObject {
  return {
    openapi: version,
    info: { title: "Payments", version: "1" },
    paths: {
      "/charges": {
        get: { responses: { "200": { description: "The charges" } } },
        post: {
          responses: { "201": { description: "Created" }, "500": { description: "Failed" } },
        },
      },
      "/charges/{id}": {
        parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }],
        patch: { responses: { "200": { description: "Updated" } } },
        delete: { responses: { "204": { description: "Deleted" } } },
      },
      "/charges/{id}/refunds": {
        put: { responses: { "2XX": { description: "Refunded" }, default: { description: "Error" } } },
      },
    },
  };
}

const document = (options?: OpenApiOptions, input = payments()) => documentIdempotency(input, options) as JsonObject;

describe("documentIdempotency: which operations", () => {
  it("by default documents every POST and PATCH operation, with an optional key, and no other", () => {
    const out = document();
    expect(out.paths["/charges"].post.parameters).toEqual([KEY]);
    expect(out.paths["/charges"].post.responses).toEqual({
      "201": { description: "Created", headers: REPLAYED },
      "500": { description: "Failed" },
      ...PROBLEM_RESPONSES,
    });
    expect(out.paths["/charges/{id}"].patch.parameters).toEqual([KEY]);
    expect(out.paths["/charges"].get).toEqual(payments().paths["/charges"].get);
    expect(out.paths["/charges/{id}"].delete).toEqual(payments().paths["/charges/{id}"].delete);
    expect(out.paths["/charges/{id}/refunds"]).toEqual(payments().paths["/charges/{id}/refunds"]);
  });

  it("`required: true` requires the key on every selected operation", () => {
    const out = document({ required: true });
    expect(out.paths["/charges"].post.parameters).toEqual([REQUIRED_KEY]);
    expect(out.components.parameters.IdempotencyKeyRequired).toMatchObject({
      name: "Idempotency-Key",
      in: "header",
      required: true,
    });
    expect(out.components.parameters.IdempotencyKey.required).toBe(false);
  });

  it("takes a list of operations, each with its own `required`, methods in any case", () => {
    const out = document({
      operations: [
        { method: "post", path: "/charges", required: true },
        { method: "PUT", path: "/charges/{id}/refunds" },
      ],
    });
    expect(out.paths["/charges"].post.parameters).toEqual([REQUIRED_KEY]);
    expect(out.paths["/charges/{id}/refunds"].put.parameters).toEqual([KEY]);
    expect(out.paths["/charges/{id}"].patch.parameters).toBeUndefined();
  });

  it("takes a function of the operation, returning true, false or { required }", () => {
    const seen: string[] = [];
    const out = document({
      operations: ({ method, path, operation }) => {
        seen.push(`${method} ${path} ${Object.keys(operation).join(",")}`);
        if (method === "PUT") return { required: true };
        return method === "DELETE";
      },
    });
    expect(seen).toContain("PUT /charges/{id}/refunds responses");
    expect(out.paths["/charges/{id}/refunds"].put.parameters).toEqual([REQUIRED_KEY]);
    expect(out.paths["/charges/{id}"].delete.parameters).toEqual([KEY]);
    expect(out.paths["/charges"].post.parameters).toBeUndefined();
  });

  it("adds no components when no operation is selected", () => {
    expect(document({ operations: [] })).toEqual(payments());
  });
});

describe("documentIdempotency: what each operation gains", () => {
  it("the key parameter follows `header` and `maxKeyLength`", () => {
    const out = document({ header: "X-Request-Key", maxKeyLength: 64 });
    expect(out.components.parameters.IdempotencyKey).toMatchObject({
      name: "X-Request-Key",
      schema: { type: "string", minLength: 1, maxLength: 64, pattern: "^[!-~]+$" },
    });
  });

  it("the key's schema accepts visible ASCII up to the limit and refuses the rest, as the server does", () => {
    const out = document();
    const { schema } = out.components.parameters.IdempotencyKey;
    for (const valid of ["8e03978e-40d5-43e8-bc93-6894a57f9324", "a", "~!", "k".repeat(255)]) {
      expect(validateAgainst(out, schema, valid), valid).toEqual([]);
    }
    for (const invalid of ["", "two words", "k".repeat(256), "café", "tab\t"]) {
      expect(validateAgainst(out, schema, invalid), invalid).not.toEqual([]);
    }
  });

  it("Idempotent-Replayed goes on the responses `storeWhen` keeps (ranges too), not on `default`", () => {
    const put = { operations: [{ method: "PUT", path: "/charges/{id}/refunds" }] };
    const refunds = document(put).paths["/charges/{id}/refunds"].put.responses;
    expect(refunds["2XX"]).toEqual({ description: "Refunded", headers: REPLAYED });
    expect(refunds.default).toEqual({ description: "Error" });

    const kept = document({ storeWhen: () => true }).paths["/charges"].post.responses;
    expect(kept["500"]).toEqual({ description: "Failed", headers: REPLAYED });
    expect(kept["409"]).toEqual(PROBLEM_RESPONSES["409"]);
  });

  it("with `expiryHeader`, documents the key's expiry header beside Idempotent-Replayed; without it, nothing", () => {
    const expires = { $ref: "#/components/headers/IdempotencyKeyExpires" };
    const on = document({ expiryHeader: true });
    expect(on.paths["/charges"].post.responses["201"].headers).toEqual({
      ...REPLAYED,
      "Idempotency-Key-Expires": expires,
    });
    expect(on.components.headers.IdempotencyKeyExpires).toMatchObject({ schema: { type: "string" } });
    const named = document({ expiryHeader: "Key-Kept-Until" }).paths["/charges"].post.responses["201"].headers;
    expect(named).toEqual({ ...REPLAYED, "Key-Kept-Until": expires });
    const off = document();
    expect(off.paths["/charges"].post.responses["201"].headers).toEqual(REPLAYED);
    expect(off.components.headers.IdempotencyKeyExpires).toBeUndefined();
    expect(() => document({ expiryHeader: "Key Kept" })).toThrow(/`expiryHeader`/);
  });

  it("a response shared through components.responses is copied with the header; the shared one is unchanged", () => {
    const input = payments();
    input.components = { responses: { Created: { description: "Created", headers: { "X-Id": { schema: {} } } } } };
    input.paths["/charges"].post.responses["201"] = { $ref: "#/components/responses/Created" };
    const out = document({}, input);
    expect(out.paths["/charges"].post.responses["201"]).toEqual({
      description: "Created",
      headers: { "X-Id": { schema: {} }, ...REPLAYED },
    });
    expect(out.components.responses.Created).toEqual(input.components.responses.Created);
  });

  it("keeps what the document already says: its own response for a status, its own key parameter", () => {
    const input = payments();
    const conflict = { description: "Our own conflict", content: { "application/json": { schema: {} } } };
    input.paths["/charges"].post.responses["409"] = conflict;
    const ownKey = { name: "idempotency-key", in: "header", required: true, schema: { type: "string" } };
    input.paths["/charges"].post.parameters = [ownKey];
    input.components = { parameters: { Key: ownKey, SameKey: { $ref: "#/components/parameters/Key" } } };
    input.paths["/charges/{id}"].patch.parameters = [{ $ref: "#/components/parameters/SameKey" }];
    const out = document({}, input);
    expect(out.paths["/charges"].post.responses["409"]).toEqual({ ...conflict, headers: REPLAYED });
    expect(out.paths["/charges"].post.responses["422"]).toEqual(PROBLEM_RESPONSES["422"]);
    expect(out.paths["/charges"].post.parameters).toEqual([ownKey]);
    expect(out.paths["/charges/{id}"].patch.parameters).toEqual([{ $ref: "#/components/parameters/SameKey" }]);
  });

  it("leaves a reference it cannot follow (another file, a loop) as it is", () => {
    const input = payments();
    input.components = { responses: { Loop: { $ref: "#/components/responses/Loop" } } };
    input.paths["/charges"].post.responses["201"] = { $ref: "#/components/responses/Loop" };
    input.paths["/charges"].post.responses["202"] = { $ref: "responses.yaml#/Accepted" };
    const { responses } = document({}, input).paths["/charges"].post;
    expect(responses["201"]).toEqual({ $ref: "#/components/responses/Loop" });
    expect(responses["202"]).toEqual({ $ref: "responses.yaml#/Accepted" });
  });

  it("a key parameter declared on the path applies to its operations: none is added", () => {
    const input = payments();
    input.paths["/charges/{id}"].parameters.push({ name: "Idempotency-Key", in: "header", schema: {} });
    expect(document({}, input).paths["/charges/{id}"].patch.parameters).toBeUndefined();
  });

  it("each problem response refers to one shared schema, with the server's `type` and `code` values", () => {
    const out = document();
    const conflict = out.components.responses.IdempotencyRequestInFlight;
    expect(conflict.headers).toEqual({ "Retry-After": { $ref: "#/components/headers/IdempotencyRetryAfter" } });
    const { schema, examples } = conflict.content["application/problem+json"];
    expect(schema.allOf[0]).toEqual({ $ref: "#/components/schemas/IdempotencyProblem" });
    expect(schema.allOf[1].properties.type.enum).toEqual(["urn:oncely:problem:in-flight"]);
    expect(examples.in_flight.value).toMatchObject({ status: 409, code: "in_flight", retryAfter: 1 });
    const unavailable = out.components.responses.IdempotencyStoreUnavailable.content["application/problem+json"];
    expect(unavailable.schema.allOf[1].properties.code.enum).toEqual([
      "store_unavailable",
      "store_timeout",
      "record_too_large",
      "store_full",
    ]);
    expect(out.components.responses.IdempotencyKeyReused.headers).toBeUndefined();
  });

  it("documents every client error and 503 oncely defines, but the two no guarded route answers", () => {
    // A new error class with such a status must be added to src/openapi/problems.ts, or named here with the reason.
    const notAnsweredByRoutes = new Set([
      "invalid_cursor", // thrown by a store's list(), which the CLI calls, never on a request
      "claim_lost", // thrown to the handler's own code (step(), idem.run): the app's error path answers it
    ]);
    const documented = new Set<string>();
    for (const response of Object.values<JsonObject>(document().components.responses)) {
      for (const code of response.content["application/problem+json"].schema.allOf[1].properties.code.enum) {
        documented.add(code);
      }
    }
    const defined = Object.values(errors)
      .filter((value) => typeof value === "function" && value.prototype instanceof errors.OncelyError)
      .map((Class) => Reflect.construct(Class, ["", "", ""]) as errors.OncelyError)
      .filter((error) => error.status < 500 || error.status === 503)
      .map((error) => error.code)
      .filter((code) => !notAnsweredByRoutes.has(code));
    expect(new Set(defined)).toEqual(documented);
  });

  it("every example validates against its own response's schema, in both OpenAPI versions", () => {
    for (const version of ["3.0.3", "3.1.0"]) {
      const out = document({}, payments(version));
      for (const [name, response] of Object.entries<JsonObject>(out.components.responses)) {
        const { schema, examples } = response.content["application/problem+json"];
        for (const example of Object.values<JsonObject>(examples)) {
          expect(validateAgainst(out, schema, example.value), `${version} ${name}`).toEqual([]);
        }
      }
    }
  });
});

describe("documentIdempotency: a pure function", () => {
  it("never modifies its input", () => {
    const input = payments();
    const before = structuredClone(input);
    document({ required: true }, input);
    expect(input).toEqual(before);
  });

  it("applied to its own result changes nothing; applied again with another `required`, follows it", () => {
    const once = document();
    expect(document({}, once)).toEqual(once);
    const required = document({ required: true }, once);
    expect(required.paths["/charges"].post.parameters).toEqual([REQUIRED_KEY]);
    expect(required).toEqual(document({ required: true }));
  });

  it("refuses to overwrite a component of the app's own under one of oncely's names", () => {
    const input = payments();
    input.components = { schemas: { IdempotencyProblem: { type: "object" } } };
    expect(() => document({}, input)).toThrow(
      new TypeError(
        "The document's components.schemas.IdempotencyProblem differs from oncely's: it is the app's own, or was " +
          "written with other options. Rename it, or remove it to have it written again",
      ),
    );
  });
});

describe("documentIdempotency: input checks", () => {
  const call = (input: unknown, options?: unknown) => () =>
    documentIdempotency(input as object, options as OpenApiOptions);

  it("refuses what is not an OpenAPI 3.0 or 3.1 document", () => {
    expect(call(null)).toThrow(new TypeError("Expected an OpenAPI 3.0 or 3.1 document (an object)"));
    expect(call([])).toThrow(new TypeError("Expected an OpenAPI 3.0 or 3.1 document (an object)"));
    expect(call({ paths: {} })).toThrow(
      new TypeError("Expected an OpenAPI 3.0 or 3.1 document; its `openapi` field is undefined"),
    );
    expect(call({ openapi: "4.0.0" })).toThrow(
      new TypeError('Expected an OpenAPI 3.0 or 3.1 document; its `openapi` field is "4.0.0"'),
    );
    expect(call({ swagger: "2.0", paths: {} })).toThrow(
      new TypeError("Expected an OpenAPI 3.0 or 3.1 document; this one is Swagger 2.0 (generate OpenAPI 3 instead)"),
    );
    expect(call({ openapi: "3.1.0", paths: {}, extra: () => {} })).toThrow(
      new TypeError("Expected the OpenAPI document to be plain data (no functions or class instances)"),
    );
  });

  it("refuses unknown options, naming the closest known one", () => {
    expect(call(payments(), { requried: true })).toThrow(
      new TypeError("Unknown documentIdempotency option `requried`; did you mean `required`?"),
    );
    expect(call(payments(), { operations: [{ method: "POST", path: "/charges", reqired: true }] })).toThrow(
      new TypeError("Unknown `operations` entry option `reqired`; did you mean `required`?"),
    );
  });

  it("refuses options of the wrong kind, naming them", () => {
    expect(call(payments(), "POST")).toThrow(new TypeError("Expected the options to be an object"));
    expect(call(payments(), { header: "Idempotency Key" })).toThrow(
      new TypeError('Expected `header` to be a header name such as "Idempotency-Key"'),
    );
    expect(call(payments(), { maxKeyLength: 0 })).toThrow(
      new TypeError("Expected `maxKeyLength` to be a positive whole number"),
    );
    expect(call(payments(), { required: "yes" })).toThrow(new TypeError("Expected `required` to be true or false"));
    expect(call(payments(), { storeWhen: 500 })).toThrow(
      new TypeError("Expected `storeWhen` to be a function of the status"),
    );
    expect(call(payments(), { operations: "POST /charges" })).toThrow(
      new TypeError("Expected `operations` to be a list of { method, path } or a function of the operation"),
    );
    expect(call(payments(), { operations: [{ method: "POST" }] })).toThrow(
      new TypeError(
        'Expected each of `operations` to be { method, path }, such as { method: "POST", path: "/charges" }',
      ),
    );
    expect(call(payments(), { operations: () => "yes" })).toThrow(
      new TypeError(
        "Expected the `operations` function to return true, false or { required: boolean } for GET /charges",
      ),
    );
  });

  it("refuses a listed operation the document does not have", () => {
    expect(call(payments(), { operations: [{ method: "POST", path: "/charges/:id" }] })).toThrow(
      new TypeError("`operations` lists POST /charges/:id, which the document does not have"),
    );
  });
});
