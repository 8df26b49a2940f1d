import type { IncomingHttpHeaders } from "node:http";

// Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus those a proxy must not pass on:
// `host` (the upstream's own is sent) and `expect` (the proxy answers 100-continue itself).
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/** A header set as node:http and undici both take it. */
export type HeaderRecord = Record<string, string | string[]>;

/** The headers minus hop-by-hop ones and those the `Connection` header names. */
export function endToEnd(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>): HeaderRecord {
  const named = connectionNamed(headers.connection);
  const kept: HeaderRecord = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named?.has(name)) continue;
    kept[name] = value;
  }
  return kept;
}

function connectionNamed(value: string | string[] | undefined): Set<string> | undefined {
  if (value === undefined) return undefined;
  const tokens = (Array.isArray(value) ? value.join(",") : value).split(",");
  return new Set(tokens.map((token) => token.trim().toLowerCase()).filter(Boolean));
}

export interface ForwardedFrom {
  /** The client's address as the proxy's socket sees it. */
  address: string | undefined;
  /** `http` or `https`: how the client reached the proxy. */
  protocol: string;
  /** The host the client asked for: an absolute-form target's authority, else its `Host` header. */
  host: string | undefined;
}

/**
 * The request headers to send upstream: end-to-end headers only, without `host` and `expect`, with the client's
 * address appended to `X-Forwarded-For`, `X-Forwarded-Proto` and `X-Forwarded-Host` set unless a proxy in front
 * already set them, and `Via` naming this hop.
 */
export function upstreamRequestHeaders(headers: IncomingHttpHeaders, from: ForwardedFrom): HeaderRecord {
  const out = endToEnd(headers);
  delete out.host;
  delete out.expect;
  const forwardedFor = joined(out["x-forwarded-for"]);
  if (from.address) out["x-forwarded-for"] = forwardedFor ? `${forwardedFor}, ${from.address}` : from.address;
  if (out["x-forwarded-proto"] === undefined) out["x-forwarded-proto"] = from.protocol;
  if (out["x-forwarded-host"] === undefined && from.host) out["x-forwarded-host"] = from.host;
  const via = joined(out.via);
  out.via = via ? `${via}, 1.1 oncely` : "1.1 oncely";
  return out;
}

/** The response headers to send the client: end-to-end headers only (the proxy frames the body itself). */
export function clientResponseHeaders(headers: Record<string, string | string[] | undefined>): HeaderRecord {
  return endToEnd(headers);
}

/** Headers as the engine's ordered `[name, value]` list. */
export function headerPairs(headers: HeaderRecord): [string, string][] {
  const pairs: [string, string][] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (Array.isArray(value)) for (const item of value) pairs.push([name, item]);
    else pairs.push([name, value]);
  }
  return pairs;
}

function joined(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(", ") : value;
}
