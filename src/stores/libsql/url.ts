import { parseNetworkUrl, StoreUrlError, splitQuery, tableOf, takeParams, timeoutOf } from "../shared/store-url.js";
import type { LibsqlStoreOptions } from "./index.js";

/**
 * `libsql://HOST` (a sqld server or Turso; `?authToken=`, `?table=`, `?timeout=`, other parameters go to the client)
 * or `libsql:./oncely.db` (a local file; `?table=` and `?timeout=` only).
 */
export function parseLibsqlUrl(url: string): LibsqlStoreOptions & { url: string } {
  const rest = url.slice(url.indexOf(":") + 1);
  if (rest.startsWith("//")) {
    const parsed = parseNetworkUrl(url);
    const params = takeParams(url, parsed.search.slice(1), ["table", "authToken", "timeout"], { strict: false });
    parsed.search = params.rest;
    const authToken = params.known.get("authToken");
    return { url: parsed.href, ...(authToken ? { authToken } : {}), ...tableOf(params), ...timeoutOf(url, params) };
  }
  const [location, query = ""] = splitQuery(rest);
  if (location === "") throw new StoreUrlError(url, 'expected a file name, as in "libsql:./oncely.db"');
  const params = takeParams(url, query, ["table", "timeout"], { strict: true });
  return { url: `file:${location}`, ...tableOf(params), ...timeoutOf(url, params) };
}
