import type { StoredResponse } from "./store.js";

/** The one stored header of a sealed response: the format version and the key id. Everything else is sealed. */
export const MARKER = "oncely-sealed";

/** The AES-GCM cipher once its code is loaded (see encryption.ts). */
export interface SyncCipher {
  seal(id: string, response: StoredResponse): StoredResponse;
  open(id: string, response: StoredResponse): StoredResponse;
}
