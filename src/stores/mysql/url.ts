import { parseNetworkUrl, StoreUrlError, tableOf, takeParams, timeoutOf } from "../shared/store-url.js";
import type { MySqlStoreOptions } from "./index.js";

/**
 * `mysql://user@host/db` and `mariadb://...` (which implies `dialect=mariadb`); `?table=`, `?timeout=`, `?dialect=`;
 * other parameters go to mysql2.
 */
export function parseMysqlUrl(url: string): MySqlStoreOptions & { uri: string } {
  const parsed = parseNetworkUrl(url);
  const params = takeParams(url, parsed.search.slice(1), ["table", "timeout", "dialect"], { strict: false });
  parsed.search = params.rest;
  const impliedDialect = parsed.protocol === "mariadb:" ? "mariadb" : undefined;
  const dialect = params.known.get("dialect") ?? impliedDialect;
  if (dialect !== undefined && dialect !== "mariadb" && dialect !== "mysql") {
    throw new StoreUrlError(url, `\`dialect\` is "${dialect}"; expected "mariadb" or "mysql"`);
  }
  return { uri: parsed.href, ...tableOf(params), ...(dialect ? { dialect } : {}), ...timeoutOf(url, params) };
}
