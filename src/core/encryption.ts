import type { SyncCipher } from "./aes-gcm.js";
import { nodeBuiltin } from "./node-builtins.js";
import type { StoredResponse } from "./store.js";

/**
 * Encryption of stored responses at rest. Keys are named, so they can be rotated: new records are sealed with
 * `current`, and a record sealed with an older key still opens while that key is listed.
 *
 * @example
 * encryption: { current: "2026-11", keys: { "2026-11": process.env.ONCELY_KEY_2026_11!, "2026-05": oldKey } }
 */
export interface EncryptionOptions {
  /** The id of the key new records are sealed with; must be one of `keys`. */
  current: string;
  /** AES-256 keys by id: 32 bytes each, as a `Uint8Array` or a base64 string. */
  keys: Record<string, Uint8Array | string>;
}

const KEY_ID = /^[\w.:-]{1,64}$/;

export interface ResponseCipher {
  /** Seals status-bearing content (headers and body) of a kept response; bound to the record `id`. */
  seal(id: string, response: StoredResponse): Promise<StoredResponse>;
  /** Opens what `seal` made; returns responses that were never sealed unchanged. */
  open(id: string, response: StoredResponse): Promise<StoredResponse>;
  /**
   * Seals one append of a streamed response (its entries, framed) into one entry, bound to the run and the position
   * it takes in the log (`streamEntryAad`): a sealed entry moved to another record, run or place does not open.
   */
  sealEntries(aad: string, entries: readonly Uint8Array[]): Promise<Uint8Array>;
  /** The entries of what `sealEntries` made with the same `aad`; a `DecryptionError` otherwise. */
  openEntries(aad: string, sealed: Uint8Array): Promise<Uint8Array[]>;
}

/** What a sealed stream entry is bound to: the record, the run (its token) and its position in the run's log. */
export function streamEntryAad(id: string, token: number, position: number): string {
  return `oncely-stream:${id}:${token}:${position}`;
}

/**
 * Validates the options (a `TypeError` names what is wrong) and returns the cipher the engine uses. The AES-GCM code
 * itself is loaded when the first response is sealed or opened: apps without `encryption` never carry it.
 */
export function createResponseCipher(options: EncryptionOptions): ResponseCipher {
  if (!nodeBuiltin("node:crypto"))
    throw new TypeError("`encryption` needs node:crypto (Node.js, Bun, Deno, or Workers with Node compatibility)");
  const keys = validKeys(options);
  const current = options.current;
  let loading: Promise<SyncCipher> | undefined;
  const cipher = () => (loading ??= import("./aes-gcm.js").then(({ aesGcmCipher }) => aesGcmCipher(keys, current)));
  return {
    seal: async (id, response) => (response.kept ? (await cipher()).seal(id, response) : response),
    open: async (id, response) => (await cipher()).open(id, response),
    sealEntries: async (aad, entries) => (await cipher()).sealEntries(aad, entries),
    openEntries: async (aad, sealed) => (await cipher()).openEntries(aad, sealed),
  };
}

function validKeys(options: EncryptionOptions): Map<string, Uint8Array> {
  const { current, keys } = options ?? {};
  if (!keys || typeof keys !== "object") {
    throw new TypeError('Expected `encryption.keys` to map key ids to 32-byte keys, e.g. { "2026-11": "<base64>" }');
  }
  const decoded = new Map<string, Uint8Array>();
  for (const [id, key] of Object.entries(keys)) {
    if (!KEY_ID.test(id))
      throw new TypeError(
        `Expected encryption key ids of 1-64 letters, digits, ".", ":" or "-", got ${JSON.stringify(id)}`,
      );
    const bytes = typeof key === "string" ? fromBase64(key) : key instanceof Uint8Array ? key.slice() : undefined;
    if (bytes?.length !== 32) {
      throw new TypeError(
        `Expected encryption key "${id}" to be 32 bytes (a Uint8Array or base64 string), for AES-256`,
      );
    }
    decoded.set(id, bytes);
  }
  if (typeof current !== "string" || !decoded.has(current)) {
    throw new TypeError(`Expected \`encryption.current\` to name one of the keys, got ${JSON.stringify(current)}`);
  }
  return decoded;
}

/** The bytes of a base64 (or base64url) string, or undefined when it is not one. */
function fromBase64(text: string): Uint8Array | undefined {
  try {
    const binary = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
    return Uint8Array.from(binary, (char) => char.charCodeAt(0));
  } catch {
    return undefined;
  }
}
