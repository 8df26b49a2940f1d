import { parseNetworkUrl, StoreUrlError, takeParams, timeoutOf } from "../shared/store-url.js";
import type { RedisStoreOptions } from "./index.js";

/** `redis://host:6379/0`, `rediss://...`; `?prefix=`, `?timeout=`; other parameters go to ioredis. */
export function parseRedisUrl(url: string): RedisStoreOptions & { url: string } {
  const parsed = parseNetworkUrl(url);
  const params = takeParams(url, parsed.search.slice(1), ["prefix", "timeout"], { strict: false });
  parsed.search = params.rest;
  const prefix = params.known.get("prefix");
  if (prefix === "") throw new StoreUrlError(url, '`prefix` is empty; leave it out for the default "oncely:"');
  return { url: parsed.href, ...(prefix === undefined ? {} : { prefix }), ...timeoutOf(url, params) };
}
