import { Ajv } from "ajv";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

type JsonObject = Record<string, unknown>;

/**
 * Validates JSON against a schema of an OpenAPI document, with its `#/components/...` references resolved inside the
 * document: JSON Schema 2020-12 for OpenAPI 3.1, draft-07 (the closest Ajv has to 3.0's dialect) for OpenAPI 3.0.
 * Returns Ajv's errors, or an empty list when the value is valid.
 */
export function validateAgainst(document: JsonObject, schema: unknown, value: unknown): unknown[] {
  const is31 = String(document["openapi"]).startsWith("3.1.");
  const ajv = is31 ? new Ajv2020({ strict: false, allErrors: true }) : new Ajv({ strict: false, allErrors: true });
  addFormats.default(ajv);
  const validate = ajv.compile({ components: document["components"], allOf: [schema] });
  return validate(value) ? [] : (validate.errors ?? []);
}
