import { canonicalJson } from "./canonical-json.js";
import { hashParts } from "./hash.js";
import { recordId, scopeHash } from "./record-id.js";

/**
 * The digests of an `idem.run`: its record id, scope hash and fingerprint.
 *
 * Those of the runs seen last are remembered. A retry repeats the scope, key and input of a run seen moments before,
 * most often in the same process: its digests are then looked up here, its input compared with a copy of the first
 * one's, instead of writing the input out as canonical JSON and hashing it again (three SHA-256 digests and the
 * arguments' JSON were over a fifth of a replayed MCP tool call's work in oncely). The digests themselves are the same
 * as ever: records written with or without the memo are found alike.
 *
 * Bounded: two generations of `GENERATION` entries (a full one is kept as the previous and a new one started, so an
 * entry used in either stays); a scope and key, or an input's canonical JSON, longer than `MAX_TEXT` characters is
 * hashed every time. The raw scopes, keys and inputs it holds stay in this process's memory (never in the store), as
 * the requests that carried them did.
 */
const GENERATION = 512;
const MAX_TEXT = 1024;

class DigestMemo<V> {
  #current = new Map<string, V>();
  #previous = new Map<string, V>();

  /** The entry remembered for `text`, or `undefined`. */
  get(text: string): V | undefined {
    const found = this.#current.get(text);
    if (found !== undefined || this.#previous.size === 0) return found;
    const previous = this.#previous.get(text);
    if (previous !== undefined) this.set(text, previous);
    return previous;
  }

  set(text: string, entry: V): void {
    if (text.length > MAX_TEXT) return;
    if (this.#current.size >= GENERATION) {
      this.#previous = this.#current;
      this.#current = new Map();
    }
    this.#current.set(text, entry);
  }
}

/** A run's digests. */
export interface RunDigests {
  readonly id: string;
  readonly fingerprint: string;
}

/** A run seen: its digests, its name, and a copy of its input to compare a retry's with (`UNCOMPARED`: none kept). */
interface SeenRun extends RunDigests {
  readonly name: string;
  readonly input: unknown;
}

const UNCOMPARED = Symbol("uncompared");
/** The runs seen last, by their scope and key (length-prefixed, as the digests' own inputs are: never ambiguous). */
const runs = new DigestMemo<SeenRun>();
const scopes = new DigestMemo<string>();

/**
 * The record id and fingerprint of a run of `key` in `scope`, named `name`, with `input`. A retry of a run seen last,
 * with the same name and an input equal in canonical JSON, gets the digests remembered for it: its input is compared
 * with the kept copy in place, without being written out. Anything else is hashed (and remembered).
 */
export function runDigests(scope: string | undefined, key: string, name: string, input: unknown): RunDigests {
  const text = `${scope?.length ?? 0}:${scope ?? ""}${key}`;
  const seen = runs.get(text);
  if (seen !== undefined && seen.name === name && seen.input !== UNCOMPARED && sameInput(seen.input, input)) {
    return seen;
  }
  const json = input === undefined ? "" : inputJson(input);
  const run: SeenRun = {
    id: seen?.id ?? recordId(scope, key),
    fingerprint: hashParts(["oncely:run", name, json]),
    name,
    // A copy, made from the canonical JSON: the caller may change its input once the run is under way.
    input: json.length > MAX_TEXT || !plain(input) ? UNCOMPARED : json === "" ? undefined : JSON.parse(json),
  };
  runs.set(text, run);
  return run;
}

/** `scopeHash(scope)`, remembered. */
export function runScopeHash(scope: string): string {
  let hash = scopes.get(scope);
  if (hash === undefined) {
    hash = scopeHash(scope);
    scopes.set(scope, hash);
  }
  return hash;
}

/**
 * True when `value` has the canonical JSON of `kept`, a plain JSON value (a copy parsed from canonical JSON): the same
 * keys in any order, leaving out those `canonicalJson` leaves out (undefined and function values), and equal values.
 * Anything it cannot vouch for is unequal, and then written out and hashed.
 */
function sameInput(kept: unknown, value: unknown): boolean {
  if (kept === null || typeof kept !== "object") return Object.is(kept, value);
  if (value === null || typeof value !== "object" || Array.isArray(kept) !== Array.isArray(value)) return false;
  if (Array.isArray(kept)) {
    const items = value as unknown[];
    if (items.length !== kept.length) return false;
    for (let i = 0; i < kept.length; i++) if (!sameInput(kept[i], items[i])) return false;
    return true;
  }
  let count = 0;
  for (const key in value) {
    const item = (value as Record<string, unknown>)[key];
    if (item === undefined || typeof item === "function") continue;
    // An inherited key is one `canonicalJson` does not write (it reads `Object.keys`).
    if (!Object.hasOwn(value, key)) return false;
    const keptItem = (kept as Record<string, unknown>)[key];
    if (keptItem === undefined || !Object.hasOwn(kept, key) || !sameInput(keptItem, item)) return false;
    count += 1;
  }
  for (const _ in kept) count -= 1;
  return count === 0;
}

/** True for a plain JSON value: `JSON.parse` of its canonical JSON has the same canonical JSON. */
function plain(value: unknown): boolean {
  switch (typeof value) {
    case "undefined":
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(value) && !Object.is(value, -0);
    case "object": {
      if (value === null) return true;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) if (value[i] === undefined || !plain(value[i])) return false;
        return true;
      }
      const prototype = Object.getPrototypeOf(value);
      if (prototype !== Object.prototype && prototype !== null) return false;
      for (const key in value) {
        const item = (value as Record<string, unknown>)[key];
        if (typeof item === "function") return false;
        if (!plain(item)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

/**
 * `canonicalJson(input)`. A tree of plain objects whose keys are already in order at every depth (one key, or
 * arguments written in order) is its own canonical form, written by one native call: a stringify per key and value,
 * and the strings joined, were most of a replayed run's garbage. (Here, not in canonical-json.ts: the HTTP guard's
 * bundle would carry it.)
 */
export function inputJson(input: unknown): string {
  if (typeof input === "object" && input !== null && inOrder(input)) return JSON.stringify(input);
  return canonicalJson(input);
}

/**
 * True when `JSON.stringify(value)` writes what `canonicalJson` would: plain objects and arrays (no `toJSON`) with keys
 * in order, arrays without holes, strings, booleans, null, and finite numbers other than -0, at every depth. Read with
 * `for...in`, which walks an object's keys without making an array of them.
 */
function inOrder(value: object): boolean {
  // `JSON.stringify` calls a `toJSON` method, even one `for...in` does not see (not enumerable, or on an array).
  if ((value as { toJSON?: unknown }).toJSON !== undefined) return false;
  if (Array.isArray(value)) {
    if (Object.getPrototypeOf(value) !== Array.prototype) return false;
    for (let i = 0; i < value.length; i++) if (!plainItem(value[i])) return false;
    return true;
  }
  const prototype = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return false;
  let previous: string | undefined;
  for (const key in value) {
    if (previous !== undefined && !(previous < key)) return false;
    if (!plainItem((value as Record<string, unknown>)[key])) return false;
    previous = key;
  }
  return true;
}

function plainItem(item: unknown): boolean {
  switch (typeof item) {
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(item) && !Object.is(item, -0);
    case "object":
      return item === null || inOrder(item);
    default:
      return false;
  }
}
