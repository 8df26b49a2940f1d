import { canonicalJson } from "./canonical-json.js";
import { hashParts } from "./hash.js";
import { recordId, scopeHash } from "./record-id.js";

/**
 * The digests of an `idem.run`: its record id, scope hash and fingerprint.
 *
 * Those of the runs seen last are remembered, by what was hashed. A retry repeats the scope, key and input of a run
 * seen moments before, most often in the same process: its digests are then looked up here instead of hashed again
 * (three SHA-256 digests were over a fifth of a replayed MCP tool call's work in oncely). The digests themselves are
 * the same as ever: records written with or without the memo are found alike.
 *
 * Bounded: two generations of `GENERATION` entries (a full one is kept as the previous and a new one started, so a
 * digest used in either stays), and texts longer than `MAX_TEXT` characters are hashed every time. The raw scopes,
 * keys and inputs it holds stay in this process's memory (never in the store), as the requests that carried them did.
 */
const GENERATION = 512;
const MAX_TEXT = 1024;

class DigestMemo {
  #current = new Map<string, string>();
  #previous = new Map<string, string>();

  /** The digest remembered for `text`, or `undefined`. */
  get(text: string): string | undefined {
    const found = this.#current.get(text);
    if (found !== undefined || this.#previous.size === 0) return found;
    const previous = this.#previous.get(text);
    if (previous !== undefined) this.set(text, previous);
    return previous;
  }

  set(text: string, digest: string): void {
    if (text.length > MAX_TEXT) return;
    if (this.#current.size >= GENERATION) {
      this.#previous = this.#current;
      this.#current = new Map();
    }
    this.#current.set(text, digest);
  }
}

const ids = new DigestMemo();
const scopes = new DigestMemo();
const fingerprints = new DigestMemo();

/** `recordId(scope, key)`, remembered. (Texts are length-prefixed, as the digests' own inputs are: never ambiguous.) */
export function runRecordId(scope: string | undefined, key: string): string {
  const text = `${scope?.length ?? 0}:${scope ?? ""}${key}`;
  let id = ids.get(text);
  if (id === undefined) {
    id = recordId(scope, key);
    ids.set(text, id);
  }
  return id;
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

/** The fingerprint of a run named `name` with `input`: of its canonical JSON (`""` without one), remembered. */
export function runFingerprint(name: string, input: unknown): string {
  const json = input === undefined ? "" : inputJson(input);
  const text = `${name.length}:${name}${json}`;
  let fingerprint = fingerprints.get(text);
  if (fingerprint === undefined) {
    fingerprint = hashParts(["oncely:run", name, json]);
    fingerprints.set(text, fingerprint);
  }
  return fingerprint;
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
