/** What the client knows about how a response was obtained. */
export interface IdempotencyInfo {
  /** The Idempotency-Key sent on every attempt of the call (`undefined` when it sent none). */
  idempotencyKey: string | undefined;
  /** True when the server answered from its stored record (`Idempotent-Replayed: true`). */
  replayed: boolean;
  /** How many attempts the call took, this one included. */
  attempts: number;
}

// A WeakMap rather than a Response subclass or extra properties: a constructed Response loses `url`, `redirected`
// and `type`, and added properties change a platform object other code may inspect. The response stays exactly what
// fetch (or axios, or ky) returned, and the record goes away with it.
const infos = new WeakMap<object, IdempotencyInfo>();

/** Attaches `info` to a response object. */
export function recordInfo(response: object, info: IdempotencyInfo): void {
  infos.set(response, info);
}

/**
 * How a response returned by `oncely/client` (fetch, axios or ky) was obtained: the key it used, whether it was a
 * replay, how many attempts it took. `undefined` for responses the client did not return, and for clones
 * (`response.clone()` is a new object).
 *
 * @example
 * const response = await idempotentFetch("/charges", { method: "POST", body });
 * const { replayed, attempts, idempotencyKey } = idempotencyInfo(response)!;
 */
export function idempotencyInfo(response: object): IdempotencyInfo | undefined {
  return infos.get(response);
}
