import type { CallOptions, RetrySettings } from "./options.js";

/** What a call says about its key. */
export interface KeyRequest {
  /** Upper-case method. */
  method: string;
  /** A key the caller put in the request's headers themselves. */
  headerKey?: string | null;
  call?: Pick<CallOptions, "idempotencyKey" | "intent">;
}

/**
 * Decides each call's key: the caller's own (`idempotencyKey`, or the header already set), the pending key of its
 * `intent`, or a new one for methods in `methods`. Concurrent calls under one intent (a double click) share one key.
 */
export function createKeyResolver<R>(settings: RetrySettings<R>) {
  const resolving = new Map<string, Promise<string>>();

  async function keyForIntent(intent: string, own: string | undefined): Promise<string> {
    const { keyStore, generateKey } = settings;
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

  return async function resolveKey(request: KeyRequest): Promise<{ key: string | undefined; intent?: string }> {
    const own = request.call?.idempotencyKey;
    const intent = request.call?.intent;
    if (own === false) return { key: undefined };
    if (own !== undefined && typeof own !== "string")
      throw new TypeError("Expected `idempotencyKey` to be a string or false");
    const explicit = own ?? request.headerKey ?? undefined;
    if (intent === undefined) {
      if (explicit !== undefined) return { key: explicit };
      return { key: settings.methods.has(request.method) ? settings.generateKey() : undefined };
    }
    if (typeof intent !== "string" || intent === "") throw new TypeError("Expected `intent` to be a non-empty string");
    let pending = resolving.get(intent);
    if (!pending || explicit !== undefined) {
      pending = keyForIntent(intent, explicit);
      resolving.set(intent, pending);
      const settled = pending;
      const done = () => {
        if (resolving.get(intent) === settled) resolving.delete(intent);
      };
      settled.then(done, done);
    }
    return { key: await pending, intent };
  };
}
