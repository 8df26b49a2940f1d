import { parseNetworkUrl, tableOf, takeParams, timeoutOf } from "../shared/store-url.js";
import type { PostgresStoreOptions } from "./index.js";

/** `postgres://user@host/db`, `postgresql://...`; `?table=`, `?timeout=`; other parameters go to pg. */
export function parsePostgresUrl(url: string): PostgresStoreOptions & { connectionString: string } {
  const parsed = parseNetworkUrl(url);
  const params = takeParams(url, parsed.search.slice(1), ["table", "timeout"], { strict: false });
  parsed.search = params.rest;
  return { connectionString: parsed.href, ...tableOf(params), ...timeoutOf(url, params) };
}
