import { rejectUnknownOptions } from "../core/unknown-options.js";

/** An operation of the document, by method and path as the document writes it (`{ method: "POST", path: "/charges/{id}" }`). */
export interface OperationRef {
  /** The HTTP method, in any case. */
  method: string;
  /** The path as it appears under `paths`, with OpenAPI's `{param}` templates. */
  path: string;
  /**
   * Whether this operation requires the key (the route option `required`).
   * @default the `required` option
   */
  required?: boolean;
}

/** What a selector function receives: one operation of the document. */
export interface OperationInfo {
  /** The HTTP method, upper case (`POST`). */
  method: string;
  /** The path as it appears under `paths`. */
  path: string;
  /** The operation object, as the document writes it (`operationId`, `tags`, extensions such as `x-...`). */
  operation: Readonly<Record<string, unknown>>;
}

/** What a selector function says of one guarded operation. */
export interface OperationChoice {
  /** Whether this operation requires the key (the route option `required`). */
  required: boolean;
}

/**
 * Picks the guarded operations: `true` to guard with the `required` option's value, `{ required }` to say per
 * operation, `false` to leave the operation as it is.
 */
export type OperationSelector = (operation: OperationInfo) => boolean | OperationChoice;

/** `documentIdempotency`'s options. Mirror what the server's `createIdempotency` and routes were given. */
export interface OpenApiOptions {
  /**
   * The request header that carries the key: the engine's `header` option.
   * @default "Idempotency-Key"
   */
  header?: string;
  /**
   * The longest accepted key: the engine's `maxKeyLength` option.
   * @default 255
   */
  maxKeyLength?: number;
  /**
   * Which operations oncely guards: a list of `{ method, path, required? }` (each must exist in the document), or a
   * function that decides per operation.
   * @default every POST and PATCH operation (the engine's default `methods`)
   */
  operations?: readonly OperationRef[] | OperationSelector;
  /**
   * Whether the guarded operations require the key (the route option `required`), unless an operation says
   * otherwise.
   * @default false
   */
  required?: boolean;
  /**
   * The engine's `storeWhen`: the documented responses whose status it keeps are replayed, so they get the
   * `Idempotent-Replayed` header.
   * @default (status) => status < 500
   */
  storeWhen?: (status: number) => boolean;
  /**
   * The engine's `expiryHeader`: documents the header telling the client until when its key is kept, on the same
   * responses as `Idempotent-Replayed`. `true` names it `Idempotency-Key-Expires`; a string is the name you gave.
   * @default false
   */
  expiryHeader?: boolean | string;
}

/** The options with defaults applied, and the selection as one function. */
export interface ResolvedOpenApiOptions {
  header: string;
  maxKeyLength: number;
  select: (operation: OperationInfo) => OperationChoice | undefined;
  /** The listed operations, to report the ones the document does not have. */
  listed: readonly OperationRef[];
  storeWhen: (status: number) => boolean;
  /** The expiry header's name as documented, when it is on. */
  expiryHeader?: string;
}

const OPTION_NAMES = ["header", "maxKeyLength", "operations", "required", "storeWhen", "expiryHeader"];
const DEFAULT_METHODS = new Set(["POST", "PATCH"]);

/**
 * Validates and defaults `documentIdempotency`'s options.
 * @throws {TypeError} naming the option that is unknown or of the wrong kind
 */
export function resolveOpenApiOptions(options: OpenApiOptions = {}): ResolvedOpenApiOptions {
  if (typeof options !== "object" || options === null) throw new TypeError("Expected the options to be an object");
  rejectUnknownOptions("documentIdempotency", options, OPTION_NAMES);
  const { header = "Idempotency-Key", maxKeyLength = 255, required = false } = options;
  const storeWhen = options.storeWhen ?? ((status: number) => status < 500);
  if (typeof header !== "string" || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(header)) {
    throw new TypeError('Expected `header` to be a header name such as "Idempotency-Key"');
  }
  if (!Number.isInteger(maxKeyLength) || maxKeyLength < 1) {
    throw new TypeError("Expected `maxKeyLength` to be a positive whole number");
  }
  if (typeof required !== "boolean") throw new TypeError("Expected `required` to be true or false");
  if (typeof storeWhen !== "function") throw new TypeError("Expected `storeWhen` to be a function of the status");
  const expiryHeader = expiryHeaderName(options.expiryHeader);
  return { ...selection(options, required), header, maxKeyLength, storeWhen, expiryHeader };
}

/** The header name as the document shows it: the engine's default, or the user's as written. */
function expiryHeaderName(value: unknown): string | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return "Idempotency-Key-Expires";
  if (typeof value === "string" && /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(value)) return value;
  throw new TypeError('Expected `expiryHeader` to be true, false or a header name such as "Idempotency-Key-Expires"');
}

/** Which operations are guarded, and whether each requires the key. */
function selection(options: OpenApiOptions, required: boolean): Pick<ResolvedOpenApiOptions, "select" | "listed"> {
  const { operations } = options;

  if (operations === undefined) {
    return { select: ({ method }) => (DEFAULT_METHODS.has(method) ? { required } : undefined), listed: [] };
  }
  if (typeof operations === "function") {
    return {
      select: (operation) => {
        const choice = operations(operation);
        if (choice === false) return undefined;
        if (choice === true) return { required };
        if (typeof choice === "object" && choice !== null && typeof choice.required === "boolean") return choice;
        throw new TypeError(
          `Expected the \`operations\` function to return true, false or { required: boolean } for ` +
            `${operation.method} ${operation.path}`,
        );
      },
      listed: [],
    };
  }
  if (!Array.isArray(operations)) {
    throw new TypeError("Expected `operations` to be a list of { method, path } or a function of the operation");
  }
  const byOperation = new Map<string, OperationChoice>();
  for (const entry of operations as readonly OperationRef[]) {
    if (typeof entry !== "object" || entry === null) {
      throw new TypeError(
        'Expected each of `operations` to be { method, path }, such as { method: "POST", path: "/charges" }',
      );
    }
    rejectUnknownOptions("`operations` entry", entry, ["method", "path", "required"]);
    if (typeof entry.method !== "string" || typeof entry.path !== "string") {
      throw new TypeError(
        'Expected each of `operations` to be { method, path }, such as { method: "POST", path: "/charges" }',
      );
    }
    if (entry.required !== undefined && typeof entry.required !== "boolean") {
      throw new TypeError(`Expected \`required\` of ${entry.method} ${entry.path} to be true or false`);
    }
    byOperation.set(operationName(entry.method, entry.path), { required: entry.required ?? required });
  }
  return { select: ({ method, path }) => byOperation.get(operationName(method, path)), listed: operations };
}

/** One string per (method, path), the method in upper case. */
export function operationName(method: string, path: string): string {
  return `${method.toUpperCase()} ${path}`;
}
