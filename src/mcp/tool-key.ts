import { InvalidKeyError } from "../core/errors.js";
import { KEY_META_FIELDS } from "./wire.js";

/** The parts of a `tools/call` request's params the guard reads. */
export interface ToolCallParams {
  name: string;
  arguments?: Record<string, unknown>;
  _meta?: Record<string, unknown>;
}

/** A call's key and the arguments that identify it (the key argument left out: it names the call, not its content). */
export interface KeyedCall {
  key: string;
  arguments: Record<string, unknown>;
}

const [FIRST_FIELD, OTHER_FIELD] = KEY_META_FIELDS;
const FIRST_PLACE = `_meta.${FIRST_FIELD}`;

/**
 * Reads a call's key from `_meta` (`idempotencyKey`, then `idempotency-key`) or from the declared key argument.
 * Returns `undefined` when the call carries none.
 * @throws {InvalidKeyError} when a key is not a string of 1-255 visible ASCII characters, or two places carry
 *   different keys
 */
export function readToolKey(params: ToolCallParams, keyArgument: string | undefined): KeyedCall | undefined {
  const args = params.arguments ?? {};
  const meta = params._meta;
  // The common case, one key in `_meta.idempotencyKey` and nowhere else, read without collecting places to compare.
  if (meta?.[OTHER_FIELD] === undefined && (keyArgument === undefined || !(keyArgument in args))) {
    const value = meta?.[FIRST_FIELD];
    return value === undefined ? undefined : { key: checkedKey(FIRST_PLACE, value), arguments: args };
  }
  const found: [string, unknown][] = [];
  for (const field of KEY_META_FIELDS) {
    const value = meta?.[field];
    if (value !== undefined) found.push([`_meta.${field}`, value]);
  }
  if (keyArgument !== undefined && args[keyArgument] !== undefined) {
    found.push([`arguments.${keyArgument}`, args[keyArgument]]);
  }
  if (found.length === 0) return undefined;
  const keys = found.map(([where, value]) => checkedKey(where, value));
  if (keys.some((key) => key !== keys[0])) {
    throw new InvalidKeyError(
      `The call carries different idempotency keys in ${found.map(([where]) => where).join(" and ")}; send one key`,
    );
  }
  if (keyArgument === undefined || !(keyArgument in args)) return { key: keys[0]!, arguments: args };
  const { [keyArgument]: _key, ...rest } = args;
  return { key: keys[0]!, arguments: rest };
}

/**
 * 1-255 visible ASCII characters, as over HTTP. A JSON string needs no structured-field quoting, so a leading quote is
 * refused rather than unquoted: the engine would otherwise read `"k"` and `k` as one key.
 */
const KEY = /^[\x21\x23-\x7e][\x21-\x7e]{0,254}$/;

function checkedKey(where: string, value: unknown): string {
  if (typeof value === "string" && KEY.test(value)) return value;
  throw new InvalidKeyError(
    typeof value === "string"
      ? `The idempotency key in ${where} must be 1 to 255 visible ASCII characters (0x21-0x7E) not starting with a quote, such as a UUID`
      : `The idempotency key in ${where} must be a string, such as a UUID`,
  );
}
