import { parseNetworkUrl, StoreUrlError, takeParams, timeoutOf } from "../shared/store-url.js";
import type { UpstashStoreOptions } from "./index.js";

/**
 * `upstash://HOST` (the database's REST endpoint, over HTTPS) or `upstash+http://HOST:PORT` (plain HTTP: a local
 * stand-in such as serverless-redis-http); `?token=`, or `UPSTASH_REDIS_REST_TOKEN` in the environment; `?prefix=`,
 * `?timeout=`. Other parameters are refused.
 */
export function parseUpstashUrl(
  url: string,
  env: Record<string, string | undefined>,
): UpstashStoreOptions & { url: string; token: string } {
  const parsed = parseNetworkUrl(url);
  const params = takeParams(url, parsed.search.slice(1), ["token", "prefix", "timeout"], { strict: true });
  const token = params.known.get("token") ?? env.UPSTASH_REDIS_REST_TOKEN;
  if (!token) throw new StoreUrlError(url, "no token: add ?token= or set UPSTASH_REDIS_REST_TOKEN");
  const prefix = params.known.get("prefix");
  if (prefix === "") throw new StoreUrlError(url, '`prefix` is empty; leave it out for the default "oncely:"');
  const scheme = parsed.protocol.toLowerCase() === "upstash+http:" ? "http" : "https";
  const rest = `${scheme}://${parsed.host}${parsed.pathname === "/" ? "" : parsed.pathname}`;
  return { url: rest, token, ...(prefix === undefined ? {} : { prefix }), ...timeoutOf(url, params) };
}
