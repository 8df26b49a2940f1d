import { concat } from "./bytes.js";
import { DecryptionError } from "./errors.js";
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

/** The one stored header of a sealed response: the format version and the key id. Everything else is sealed. */
const MARKER = "oncely-sealed";
const FORMAT = "v1";
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID = /^[\w.:-]{1,64}$/;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface ResponseCipher {
  /** Seals status-bearing content (headers and body) of a kept response; bound to the record `id`. */
  seal(id: string, response: StoredResponse): StoredResponse;
  /** Opens what `seal` made; returns responses that were never sealed unchanged. */
  open(id: string, response: StoredResponse): StoredResponse;
}

/** Validates the options (a `TypeError` names what is wrong) and returns the cipher the engine uses. */
export function createResponseCipher(options: EncryptionOptions): ResponseCipher {
  const crypto = nodeBuiltin("node:crypto");
  if (!crypto)
    throw new TypeError("`encryption` needs node:crypto (Node.js, Bun, Deno, or Workers with Node compatibility)");
  const { createCipheriv, createDecipheriv, randomBytes } = crypto;
  const keys = validKeys(options);
  const current = options.current;
  const currentKey = keys.get(current)!;
  return {
    seal(id, response) {
      if (!response.kept) return response;
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv("aes-256-gcm", currentKey, iv);
      // The record id is authenticated data: a sealed response copied into another record does not open there.
      cipher.setAAD(encoder.encode(id));
      const plain = concat([encoder.encode(`${JSON.stringify(response.headers)}\n`), response.body]);
      const sealed = concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      return { status: response.status, headers: [[MARKER, `${FORMAT};${current}`]], body: sealed, kept: true };
    },
    open(id, response) {
      const marker = response.headers.length === 1 && response.headers[0]![0] === MARKER ? response.headers[0]![1] : "";
      if (!marker) return response;
      const [format, keyId = ""] = marker.split(";");
      const key = keys.get(keyId);
      if (format !== FORMAT || !key) {
        throw new DecryptionError(`The stored response was sealed with key "${keyId}", which is not configured`);
      }
      const body = response.body;
      try {
        const decipher = createDecipheriv("aes-256-gcm", key, body.subarray(0, IV_BYTES));
        decipher.setAAD(encoder.encode(id));
        decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
        const plain = concat([decipher.update(body.subarray(IV_BYTES, body.length - TAG_BYTES)), decipher.final()]);
        const newline = plain.indexOf(10);
        const headers = JSON.parse(decoder.decode(plain.subarray(0, newline))) as [string, string][];
        return { status: response.status, headers, body: plain.subarray(newline + 1), kept: true };
      } catch (error) {
        throw new DecryptionError(`The stored response did not decrypt with key "${keyId}": it was altered`, {
          cause: error,
        });
      }
    },
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
