// Loaded by encryption.ts on the first response sealed or opened: apps without `encryption` never carry it.
import { concat } from "./bytes.js";
import { DecryptionError } from "./errors.js";
import { nodeBuiltin } from "./node-builtins.js";
import type { StoredResponse } from "./store.js";

/** The one stored header of a sealed response: the format version and the key id. Everything else is sealed. */
const MARKER = "oncely-sealed";

/** The cipher once its code is loaded: `open` returns a response that was never sealed unchanged. */
export interface SyncCipher {
  seal(id: string, response: StoredResponse): StoredResponse;
  open(id: string, response: StoredResponse): StoredResponse;
}

/** The key id a sealed response names, or undefined when it was not sealed. */
export function sealedKeyId(response: StoredResponse): string | undefined {
  const [only] = response.headers;
  if (response.headers.length !== 1 || only?.[0] !== MARKER) return undefined;
  return only[1].split(";")[1] ?? "";
}

const FORMAT = "v1";
const IV_BYTES = 12;
const TAG_BYTES = 16;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** AES-256-GCM over validated keys; `encryption.ts` checked that node:crypto is there. */
export function aesGcmCipher(keys: ReadonlyMap<string, Uint8Array>, current: string): SyncCipher {
  const { createCipheriv, createDecipheriv, randomBytes } = nodeBuiltin("node:crypto")!;
  const currentKey = keys.get(current)!;
  return {
    seal(id, response) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv("aes-256-gcm", currentKey, iv);
      // The record id is authenticated data: a sealed response copied into another record does not open there.
      cipher.setAAD(encoder.encode(id));
      const plain = concat([encoder.encode(`${JSON.stringify(response.headers)}\n`), response.body]);
      const sealed = concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
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
