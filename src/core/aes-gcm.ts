// Loaded by encryption.ts on the first response sealed or opened: apps without `encryption` never carry it.
import { concat } from "./bytes.js";
import { DecryptionError } from "./errors.js";
import { frame, unframe } from "./framing.js";
import { nodeBuiltin } from "./node-builtins.js";
import type { StoredResponse } from "./store.js";

/** The one stored header of a sealed response: the format version and the key id. Everything else is sealed. */
const MARKER = "oncely-sealed";

/** The cipher once its code is loaded: `open` returns a response that was never sealed unchanged. */
export interface SyncCipher {
  seal(id: string, response: StoredResponse): StoredResponse;
  open(id: string, response: StoredResponse): StoredResponse;
  /**
   * Seals entries (framed) under the current key, bound to `aad`: the format byte, the key id's length and the key
   * id, then IV, ciphertext and tag.
   */
  sealEntries(aad: string, entries: readonly Uint8Array[]): Uint8Array;
  /** The entries of what `sealEntries` made with the same `aad`; a `DecryptionError` otherwise. */
  openEntries(aad: string, sealed: Uint8Array): Uint8Array[];
}

/** The key id a sealed response names, or undefined when it was not sealed. */
export function sealedKeyId(response: StoredResponse): string | undefined {
  const [only] = response.headers;
  if (response.headers.length !== 1 || only?.[0] !== MARKER) return undefined;
  return only[1].split(";")[1] ?? "";
}

const FORMAT = "v1";
/** The first byte of sealed entries (`sealEntries`), then the key id's length and the key id. */
const BYTES_FORMAT = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** AES-256-GCM over validated keys; `encryption.ts` checked that node:crypto is there. */
export function aesGcmCipher(keys: ReadonlyMap<string, Uint8Array>, current: string): SyncCipher {
  const { createCipheriv, createDecipheriv, randomBytes } = nodeBuiltin("node:crypto")!;
  const currentKey = keys.get(current)!;
  const gcmSeal = (key: Uint8Array, aad: string, plain: Uint8Array): Uint8Array => {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", key, iv);
    cipher.setAAD(encoder.encode(aad));
    return concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
  };
  const gcmOpen = (key: Uint8Array, aad: string, sealed: Uint8Array): Uint8Array => {
    const decipher = createDecipheriv("aes-256-gcm", key, sealed.subarray(0, IV_BYTES));
    decipher.setAAD(encoder.encode(aad));
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    return concat([decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)), decipher.final()]);
  };
  const currentId = encoder.encode(current);
  return {
    sealEntries(aad, entries) {
      const sealed = gcmSeal(currentKey, aad, frame(entries));
      return concat([Uint8Array.of(BYTES_FORMAT, currentId.length), currentId, sealed]);
    },
    openEntries(aad, sealed) {
      const keyId = decoder.decode(sealed.subarray(2, 2 + (sealed[1] ?? 0)));
      const key = keys.get(keyId);
      if (sealed[0] !== BYTES_FORMAT || !key) {
        throw new DecryptionError(`The stored stream was sealed with key "${keyId}", which is not configured`);
      }
      try {
        return unframe(gcmOpen(key, aad, sealed.subarray(2 + sealed[1]!)));
      } catch (error) {
        throw new DecryptionError(`The stored stream did not decrypt with key "${keyId}": it was altered`, {
          cause: error,
        });
      }
    },
    seal(id, response) {
      const plain = concat([encoder.encode(`${JSON.stringify(response.headers)}\n`), response.body]);
      // The record id is authenticated data: a sealed response copied into another record does not open there.
      const sealed = gcmSeal(currentKey, id, plain);
      return { status: response.status, headers: [[MARKER, `${FORMAT};${current}`]], body: sealed, kept: true };
    },
    open(id, response) {
      if (sealedKeyId(response) === undefined) return response;
      const [format, keyId = ""] = response.headers[0]![1].split(";");
      const key = keys.get(keyId);
      if (format !== FORMAT || !key) {
        throw new DecryptionError(`The stored response was sealed with key "${keyId}", which is not configured`);
      }
      const body = response.body;
      try {
        const plain = gcmOpen(key, id, body);
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
