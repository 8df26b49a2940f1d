import { StoreUrlError, splitQuery, tableOf, takeParams, timeoutOf } from "../shared/store-url.js";
import type { SqliteStoreOptions } from "./index.js";

/** `sqlite:./oncely.db`, `sqlite:///abs/file.db`, `sqlite::memory:`; `?table=`, `?timeout=`, nothing else. */
export function parseSqliteUrl(url: string): SqliteStoreOptions & { path: string } {
  const [location, query = ""] = splitQuery(url.slice(url.indexOf(":") + 1));
  // "sqlite:///abs/file.db" and "sqlite://./file.db" are common spellings of "sqlite:/abs/file.db" and "sqlite:./file.db".
  const raw = location.startsWith("//") ? location.slice(2) : location;
  let path: string;
  try {
    path = decodeURIComponent(raw);
  } catch {
    throw new StoreUrlError(url, "the file name has a malformed %-escape");
  }
  if (path === "")
    throw new StoreUrlError(url, 'expected a file name, as in "sqlite:./oncely.db" or "sqlite::memory:"');
  const params = takeParams(url, query, ["table", "timeout"], { strict: true });
  return { path, ...tableOf(params), ...timeoutOf(url, params) };
}
