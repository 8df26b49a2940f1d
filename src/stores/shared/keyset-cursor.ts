import { InvalidCursorError } from "../../core/errors.js";
import type { IdempotencyRecord } from "../../core/store.js";

/**
 * The opaque `list()` cursor of the SQL stores: the (created_at, id) of the last record of a page. Paging by that key
 * pair (newest first) stays correct while records are added or purged between pages, unlike an offset.
 */
export function encodeCursor(record: IdempotencyRecord): string {
  return Buffer.from(JSON.stringify([record.createdAt, record.id])).toString("base64url");
}

/** @throws {InvalidCursorError} when `cursor` is not one that `encodeCursor` made. */
export function decodeCursor(cursor: string): [createdAt: number, id: string] {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, "base64url").toString());
  } catch {
    // Falls through to the error below: a caller's bad cursor is a usage error, not a parse failure.
  }
  // Any finite number: an injected clock (SQLite, tests) may hand out fractional milliseconds.
  if (!Array.isArray(value) || !Number.isFinite(value[0]) || typeof value[1] !== "string") {
    throw new InvalidCursorError(cursor);
  }
  return [value[0], value[1]];
}
