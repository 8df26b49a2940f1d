import { toMilliseconds } from "../../core/duration.js";
import { OncelyError } from "../../core/errors.js";
import { redactStoreUrl } from "./redact-url.js";

// What every store's URL parser (`src/stores/<name>/url.ts`) shares. Parsing is pure: nothing here imports a driver
// or opens a connection.

/**
 * Thrown when a store URL cannot be used: unknown scheme, missing part, unknown or invalid parameter. The message is
 * one line and never shows a password from the URL.
 */
export class StoreUrlError extends OncelyError {
  override readonly name = "StoreUrlError";
  override readonly code = "invalid_store_url";
  override readonly title = "Invalid store URL";
  /** The URL as given, with any password replaced by `***`. */
  readonly url: string;

  constructor(url: string, reason: string) {
    super(`invalid store URL ${JSON.stringify(redactStoreUrl(url))}: ${reason}`);
    this.url = redactStoreUrl(url);
  }
}

/** A URL with an authority (`redis://host...`); `URL` does the parsing, so drivers see what they would have. */
export function parseNetworkUrl(url: string): URL {
  const parsed = URL.parse(url);
  if (!parsed || !url.includes("://")) throw new StoreUrlError(url, "not a valid URL");
  if (parsed.hostname === "") throw new StoreUrlError(url, "no host");
  return parsed;
}

export function splitQuery(text: string): [string, string | undefined] {
  const at = text.indexOf("?");
  return at === -1 ? [text, undefined] : [text.slice(0, at), text.slice(at + 1)];
}

export interface Params {
  known: Map<string, string>;
  /** The parameters left for the driver, as a query string without "?". */
  rest: string;
}

/** Takes oncely's own parameters out of a query string; with `strict`, any other parameter is refused. */
export function takeParams(
  url: string,
  query: string,
  names: readonly string[],
  { strict }: { strict: boolean },
): Params {
  const search = new URLSearchParams(query);
  const known = new Map<string, string>();
  for (const name of names) {
    const values = search.getAll(name);
    if (values.length > 1) throw new StoreUrlError(url, `\`${name}\` is given ${values.length} times`);
    if (values.length === 1) known.set(name, values[0]!);
    search.delete(name);
  }
  const unknown = [...new Set(search.keys())];
  if (strict && unknown.length > 0) {
    const list = unknown.map((name) => `\`${name}\``).join(", ");
    throw new StoreUrlError(
      url,
      `unknown parameter ${list}; this scheme takes ${names.map((n) => `\`${n}\``).join(", ")}`,
    );
  }
  return { known, rest: search.toString() };
}

export function tableOf(params: Params): { table?: string } {
  const table = params.known.get("table");
  return table === undefined ? {} : { table };
}

export function timeoutOf(url: string, params: Params): { timeout?: number } {
  const value = params.known.get("timeout");
  if (value === undefined) return {};
  try {
    // A bare number is milliseconds, as everywhere in oncely.
    return { timeout: toMilliseconds(/^\d+$/.test(value) ? Number(value) : value, "timeout") };
  } catch {
    throw new StoreUrlError(url, `\`timeout\` is "${value}"; expected a duration such as 500, "2s" or "1m"`);
  }
}
