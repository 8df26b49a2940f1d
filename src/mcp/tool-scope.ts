/** What the SDK hands a request handler about the caller: the verified token's facts, when the transport has auth. */
export interface AuthFacts {
  clientId: string;
  extra?: Record<string, unknown>;
}

/** The part of the SDK's `RequestHandlerExtra` the scope is read from. */
export interface ScopeSource {
  authInfo?: AuthFacts;
}

/**
 * The scope of a call without a `scope` option: the authenticated principal the SDK hands the handler (`authInfo`: the
 * OAuth client, and the user it acts for when the token says, as `sub` or `subject` in `authInfo.extra`); else none
 * (one key space shared by every caller). Never the session id: a reconnect gets a new one, and the retry would no
 * longer find its record. Synchronous: it is read on every keyed call, replays included.
 */
export function principalScope(extra: ScopeSource): string | undefined {
  const auth = extra.authInfo;
  if (!auth) return undefined;
  const subject = auth.extra?.sub ?? auth.extra?.subject;
  // Both parts, unambiguously joined: one OAuth client acting for many users gives each user a key space of their own.
  return typeof subject === "string" || typeof subject === "number"
    ? JSON.stringify([auth.clientId, String(subject)])
    : JSON.stringify([auth.clientId]);
}
