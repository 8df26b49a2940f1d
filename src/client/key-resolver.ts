import { type CallOptions, expected, type RetrySettings } from "./options.js";

/**
 * Decides each call's key: the caller's own (`idempotencyKey`, or the header already set), the pending key of its
 * `intent`, or a new one for methods in `methods`. Concurrent calls under one intent (a double click) share one key.
 */
export function createKeyResolver<R>({ keyStore, generateKey, methods }: RetrySettings<R>) {
  const resolving = new Map<string, Promise<string>>();

  async function keyForIntent(intent: string, own: string | undefined): Promise<string> {
    let stored: string | undefined;
    try {
      stored = own === undefined ? await keyStore.get(intent) : undefined;
    } catch {
      // An unreadable store (private browsing, a full quota) must not stop the request: it gets a fresh key.
    }
    const key = own ?? stored ?? generateKey();
    if (key !== stored) {
      try {
        await keyStore.set(intent, key);
      } catch {
        // Not persisted: the key still covers every retry of this call, only not a reload.
      }
    }
    return key;
  }

  /**
   * @param method upper case
   * @param headerKey a key the caller put in the request's headers themselves
   * @returns the key to send on every attempt, `undefined` for none
   */
  return async function resolveKey(
    method: string,
    headerKey: string | null | undefined,
    { idempotencyKey: own, intent }: CallOptions = {},
  ): Promise<string | undefined> {
    if (own === false) return undefined;
    if (own !== undefined && typeof own !== "string") expected("idempotencyKey", "a string or false");
    const explicit = own ?? headerKey ?? undefined;
    if (intent === undefined) return explicit ?? (methods.has(method) ? generateKey() : undefined);
    if (typeof intent !== "string" || intent === "") expected("intent", "a non-empty string");
    let pending = resolving.get(intent);
    if (!pending || explicit !== undefined) {
      const settled = keyForIntent(intent, explicit);
      const done = () => resolving.get(intent) === settled && resolving.delete(intent);
      settled.then(done, done);
      resolving.set(intent, settled);
      pending = settled;
    }
    return pending;
  };
}
