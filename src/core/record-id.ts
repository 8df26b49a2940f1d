import { hashParts } from "./hash.js";

/**
 * The storage id of a (scope, key): SHA-256 of the raw scope (never stored) and the key. Every stored record is found
 * by it, so it never changes: the engine, `idem.run` and the CLI's `inspect` all derive it here.
 */
export function recordId(scope: string | undefined, key: string): string {
  return hashParts(["oncely:id:v1", scope ?? "", key]);
}

/** The short hash of a scope that records and events carry instead of the scope itself. */
export function scopeHash(scope: string): string {
  return hashParts(["oncely:scope", scope]).slice(0, 16);
}
