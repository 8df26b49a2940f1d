/** The header `expiryHeader: true` sends. No standard names one yet (the IETF draft leaves expiry to documentation). */
export const DEFAULT_EXPIRY_HEADER = "idempotency-key-expires";

/**
 * The header telling a client until when its key is kept, as an HTTP-date (IMF-fixdate, the format of `Expires` and
 * of `Sunset`, RFC 8594), e.g. `Idempotency-Key-Expires: Tue, 08 Dec 2026 11:45:00 GMT`.
 */
export function expiryPair(name: string, expiresAt: number): [string, string] {
  return [name, new Date(expiresAt).toUTCString()];
}
