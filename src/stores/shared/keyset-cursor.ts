import { InvalidCursorError } from "../../core/errors.js";
import type { IdempotencyRecord, ListPage } from "../../core/store.js";
import { fromBase64Url, toBase64Url } from "./base64.js";

/**
 * The opaque `list()` cursor of the SQL stores: the (created_at, id) of the last record of a page. Paging by that key
 * pair (newest first) stays correct while records are added or purged between pages, unlike an offset.
 */
export function encodeCursor(record: IdempotencyRecord): string {
  return toBase64Url(JSON.stringify([record.createdAt, record.id]));
}

/** @throws {InvalidCursorError} when `cursor` is not one that `encodeCursor` made. */
export function decodeCursor(cursor: string): [createdAt: number, id: string] {
  let value: unknown;
  try {
    value = JSON.parse(fromBase64Url(cursor));
  } catch {
    // Falls through to the error below: a caller's bad cursor is a usage error, not a parse failure.
  }
  // Any finite number: an injected clock (SQLite, tests) may hand out fractional milliseconds.
  if (!Array.isArray(value) || !Number.isFinite(value[0]) || typeof value[1] !== "string") {
    throw new InvalidCursorError(cursor);
  }
  return [value[0], value[1]];
}

/**
 * One page of `list()` from rows fetched with `LIMIT limit + 1`: the extra row only says that another page follows,
 * and the cursor is the last record shown.
 */
export function pageOf<Row>(rows: readonly Row[], limit: number, toRecord: (row: Row) => IdempotencyRecord): ListPage {
  const records = rows.slice(0, limit).map(toRecord);
  const last = records.at(-1);
  return rows.length > limit && last ? { records, cursor: encodeCursor(last) } : { records };
}
