import { type Components, NAMES, ref } from "./components.js";
import { operationName, type ResolvedOpenApiOptions } from "./options.js";
import type { ProblemStatus } from "./problems.js";

type JsonObject = Record<string, unknown>;

/** The methods a path item may hold an operation for. */
const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"] as const;

const isObject = (value: unknown): value is JsonObject =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * Adds the key parameter, the replay header and the problem responses to every operation of `document` the options
 * select, in place (the caller passes its own copy). Returns how many operations were selected.
 * @throws {TypeError} when a listed operation is not in the document
 */
export function guardOperations(
  document: JsonObject,
  options: ResolvedOpenApiOptions,
  problems: readonly ProblemStatus[],
): number {
  const found = new Set<string>();
  const paths = isObject(document["paths"]) ? document["paths"] : {};
  for (const [path, item] of Object.entries(paths)) {
    if (!isObject(item)) continue;
    for (const method of METHODS) {
      const operation = item[method];
      if (!isObject(operation)) continue;
      const selected = options.select({ method: method.toUpperCase(), path, operation });
      if (!selected) continue;
      found.add(operationName(method, path));
      addKeyParameter(document, item, operation, selected.required, options.header);
      addReplayedHeader(document, operation, options, problems);
      addProblemResponses(operation, problems);
    }
  }
  for (const { method, path } of options.listed) {
    if (!found.has(operationName(method, path))) {
      throw new TypeError(`\`operations\` lists ${operationName(method, path)}, which the document does not have`);
    }
  }
  return found.size;
}

/**
 * What `value` stands for: itself, or the target of its `$ref` inside the document (`#/components/...`), followed
 * through references to references; `undefined` for a reference to another file or one that leads nowhere.
 */
function resolve(document: JsonObject, value: unknown): unknown {
  let target = value;
  const seen = new Set<string>();
  while (isObject(target) && typeof target["$ref"] === "string") {
    const pointer = target["$ref"];
    if (!pointer.startsWith("#/") || seen.has(pointer)) return undefined;
    seen.add(pointer);
    target = document;
    for (const part of pointer.slice(2).split("/")) {
      target = isObject(target) ? target[part.replaceAll("~1", "/").replaceAll("~0", "~")] : undefined;
    }
  }
  return target;
}

const isRefTo = (value: unknown, section: keyof Components, names: readonly string[]) =>
  isObject(value) && names.some((name) => value["$ref"] === ref(section, name).$ref);

/**
 * The key parameter, required or not. A header of that name the document already declares (on the operation or its
 * path) is the app's own and is kept; one this function added before is replaced, so that `required` follows.
 */
function addKeyParameter(
  document: JsonObject,
  item: JsonObject,
  operation: JsonObject,
  required: boolean,
  header: string,
): void {
  const wanted = ref("parameters", required ? NAMES.requiredKey : NAMES.key);
  const parameters = Array.isArray(operation["parameters"]) ? [...operation["parameters"]] : [];
  const ours = parameters.findIndex((parameter) => isRefTo(parameter, "parameters", [NAMES.key, NAMES.requiredKey]));
  if (ours !== -1) {
    parameters[ours] = wanted;
    operation["parameters"] = parameters;
    return;
  }
  const declares = (list: unknown) =>
    Array.isArray(list) &&
    list.some((parameter) => {
      const resolved = resolve(document, parameter);
      return (
        isObject(resolved) &&
        resolved["in"] === "header" &&
        typeof resolved["name"] === "string" &&
        resolved["name"].toLowerCase() === header.toLowerCase()
      );
    });
  if (declares(parameters) || declares(item["parameters"])) return;
  operation["parameters"] = [...parameters, wanted];
}

/** The status a response key stands for: `201`, `2XX` as 200, `default` as none. */
function statusOf(code: string): number | undefined {
  if (/^[1-5]\d\d$/.test(code)) return Number(code);
  if (/^[1-5]XX$/i.test(code)) return Number(code[0]) * 100;
  return undefined;
}

/**
 * `Idempotent-Replayed` on each documented response whose status `storeWhen` keeps, since a retry may get it
 * replayed. A response that refers to a shared `components.responses` entry gets a copy with the header, so the
 * operations that share it and are not guarded stay as they were.
 */
function addReplayedHeader(
  document: JsonObject,
  operation: JsonObject,
  { storeWhen, expiryHeader }: ResolvedOpenApiOptions,
  problems: readonly ProblemStatus[],
): void {
  if (!isObject(operation["responses"])) return;
  const problemComponents = problems.map((problem) => problem.component);
  for (const [code, response] of Object.entries(operation["responses"])) {
    const status = statusOf(code);
    if (status === undefined || !storeWhen(status) || isRefTo(response, "responses", problemComponents)) continue;
    const resolved = resolve(document, response);
    if (!isObject(resolved)) continue;
    const headers = isObject(resolved["headers"]) ? resolved["headers"] : {};
    if (Object.keys(headers).some((name) => name.toLowerCase() === "idempotent-replayed")) continue;
    operation["responses"][code] = {
      ...resolved,
      headers: {
        ...headers,
        "Idempotent-Replayed": ref("headers", NAMES.replayed),
        ...(expiryHeader ? { [expiryHeader]: ref("headers", NAMES.expires) } : {}),
      },
    };
  }
}

/** A reference to oncely's problem response for each status the operation does not document already. */
function addProblemResponses(operation: JsonObject, problems: readonly ProblemStatus[]): void {
  const responses = isObject(operation["responses"]) ? operation["responses"] : {};
  for (const { status, component } of problems) {
    if (!(String(status) in responses)) responses[String(status)] = ref("responses", component);
  }
  operation["responses"] = responses;
}
