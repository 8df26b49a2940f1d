import { readFileSync } from "node:fs";
import { toMilliseconds } from "../../core/duration.js";
import type { RouteOptions } from "../../core/options.js";
import { UsageError } from "../errors.js";
import { HEADER_NAME } from "../options.js";
import type { ProxyRoute } from "./proxy.js";
import { parseRoutePattern } from "./routes.js";
import { credentialName, DEFAULT_CREDENTIALS, proxyScope } from "./scope.js";

// The proxy's config file: which routes to guard and how, as JSON. Every mistake is one line naming the file, the
// route and the field, and exits as a usage error before anything is opened.
//
// {
//   "routes": [
//     { "route": "POST /charges", "required": true, "scopeHeader": "X-Account-Id" },
//     { "route": "POST /carts/*/checkout", "credentialHeaders": ["cookie:session"] },
//     { "route": "POST /charges/*/refunds", "ttl": "7d", "onInFlight": "wait" },
//     { "route": "POST /v1/chat/completions", "stream": true }
//   ]
// }

/** One route as the config file (or `--route`) gives it. Durations: milliseconds or strings such as "24h". */
export interface RouteConfig {
  /** `"METHOD /path/pattern"`; `*` is one segment, a final `**` the rest. */
  route: string;
  ttl?: number;
  lease?: number;
  required?: boolean;
  /** The request header whose value is the scope (the account or API key); the engine stores only its hash. */
  scopeHeader?: string;
  /**
   * What the upstream checks to know the caller (header names, or `cookie:NAME` for one cookie): a record belongs to
   * the scope header's value and a hash of these, so a replay never goes to a caller without the same credential.
   * `[]` scopes by the scope header alone.
   * @default ["authorization"]
   */
  credentialHeaders?: string[];
  /** `"join"` (follow a stream in flight) only with `stream`, where it is the default. */
  onInFlight?: "reject" | "wait" | "join";
  waitTimeout?: number;
  maxRequestBytes?: number;
  maxResponseBytes?: number;
  fingerprintHeaders?: string[];
  /**
   * The upstream's response goes to the caller chunk by chunk as it arrives (server-sent events, a chunked body),
   * recorded as it goes: a retry while it runs follows it, a retry after it ended gets it again chunk by chunk.
   */
  stream?: boolean;
  /** Requests per (scope, key) per window in this process (429 past it), or `false`. */
  rateLimit?: false | { max: number; window: number };
}

/** What `--ttl`, `--required`, `--scope-header` and `--credential-header` set for routes that set none. */
export type RouteDefaults = Pick<RouteConfig, "ttl" | "required" | "scopeHeader" | "credentialHeaders">;

type Field = (value: unknown, where: string) => unknown;

const duration: Field = (value, where) => {
  try {
    return toMilliseconds(value, where);
  } catch {
    throw new UsageError(`${where}: expected a duration such as "24h", "30s" or milliseconds, got ${show(value)}`);
  }
};
const boolean: Field = (value, where) => {
  if (typeof value !== "boolean") throw new UsageError(`${where}: expected true or false, got ${show(value)}`);
  return value;
};
const bytes: Field = (value, where) => {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw new UsageError(`${where}: expected a whole number of bytes, got ${show(value)}`);
  }
  return value;
};
const header: Field = (value, where) => {
  if (typeof value !== "string" || !HEADER_NAME.test(value)) {
    throw new UsageError(`${where}: expected a header name such as "X-Account-Id", got ${show(value)}`);
  }
  // Matched as HTTP matches names: Node.js hands the proxy every incoming name in lower case.
  return value.toLowerCase();
};
const headers: Field = (value, where) => {
  if (!Array.isArray(value)) throw new UsageError(`${where}: expected an array of header names, got ${show(value)}`);
  return value.map((name, index) => header(name, `${where}[${index}]`));
};
const credentials: Field = (value, where) => {
  if (!Array.isArray(value)) throw new UsageError(`${where}: expected an array of header names, got ${show(value)}`);
  return value.map((entry, index) => {
    const name = typeof entry === "string" ? credentialName(entry, HEADER_NAME) : undefined;
    if (name === undefined) {
      throw new UsageError(
        `${where}[${index}]: expected a header name such as "Authorization" or "cookie:session", got ${show(entry)}`,
      );
    }
    return name;
  });
};
const inFlight: Field = (value, where) => {
  if (value !== "reject" && value !== "wait" && value !== "join") {
    throw new UsageError(`${where}: expected "reject", "wait" or "join", got ${show(value)}`);
  }
  return value;
};

const rateLimit: Field = (value, where) => {
  if (value === false) return false;
  const expected = `${where}: expected false or { "max": 100, "window": "10s" }`;
  if (!isObject(value) || Object.keys(value).some((name) => name !== "max" && name !== "window")) {
    throw new UsageError(`${expected}, got ${show(value)}`);
  }
  if (typeof value.max !== "number" || !Number.isSafeInteger(value.max) || value.max < 1) {
    throw new UsageError(`${where}.max: expected a whole number of at least 1, got ${show(value.max)}`);
  }
  return { max: value.max, window: duration(value.window, `${where}.window`) };
};

const FIELDS: Record<Exclude<keyof RouteConfig, "route">, Field> = {
  ttl: duration,
  lease: duration,
  required: boolean,
  scopeHeader: header,
  credentialHeaders: credentials,
  onInFlight: inFlight,
  waitTimeout: duration,
  maxRequestBytes: bytes,
  maxResponseBytes: bytes,
  fingerprintHeaders: headers,
  stream: boolean,
  rateLimit,
};

/**
 * Reads and validates the config file.
 * @throws {UsageError} naming the file and, for a bad field, the route and the field
 */
export function loadProxyConfig(file: string): RouteConfig[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new UsageError(`config ${file}: cannot be read (${(error as NodeJS.ErrnoException).code ?? error})`);
  }
  return parseProxyConfig(text, file);
}

/** Validates a config file's text; see `loadProxyConfig`. */
export function parseProxyConfig(text: string, file: string): RouteConfig[] {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`config ${file}: not valid JSON (${(error as Error).message})`);
  }
  if (!isObject(document) || !Array.isArray(document.routes)) {
    throw new UsageError(`config ${file}: expected an object with a "routes" array`);
  }
  const unknown = Object.keys(document).filter((name) => name !== "routes" && name !== "$schema");
  if (unknown.length > 0) {
    throw new UsageError(`config ${file}: unknown field "${unknown[0]}"; the file holds "routes" only`);
  }
  return document.routes.map((entry, index) => routeConfig(entry, `config ${file}: routes[${index}]`));
}

function routeConfig(entry: unknown, where: string): RouteConfig {
  if (!isObject(entry)) throw new UsageError(`${where}: expected an object such as { "route": "POST /charges" }`);
  if (typeof entry.route !== "string")
    throw new UsageError(`${where}.route: expected "METHOD /path", e.g. "POST /charges/*"`);
  try {
    parseRoutePattern(entry.route);
  } catch (error) {
    throw new UsageError(`${where}: ${(error as Error).message}`);
  }
  const config: Record<string, unknown> = { route: entry.route };
  for (const [name, value] of Object.entries(entry)) {
    if (name === "route") continue;
    const field = FIELDS[name as keyof typeof FIELDS];
    if (!field) {
      throw new UsageError(
        `${where}: unknown field "${name}"; expected ${["route", ...Object.keys(FIELDS)].join(", ")}`,
      );
    }
    config[name] = field(value, `${where}.${name}`);
  }
  if (config.onInFlight === "join" && config.stream !== true) {
    throw new UsageError(`${where}.onInFlight: "join" follows a stream in flight, so it needs "stream": true`);
  }
  return config as unknown as RouteConfig;
}

/** A route rule from `--route`, with no options of its own. */
export function routeFromFlag(rule: string): RouteConfig {
  try {
    parseRoutePattern(rule);
  } catch (error) {
    throw new UsageError(`--route: ${(error as Error).message}`);
  }
  return { route: rule };
}

/** The engine's options for a configured route, with the command line's defaults under the route's own. */
export function toProxyRoute(config: RouteConfig, defaults: RouteDefaults): ProxyRoute {
  const merged: RouteConfig = { ...withoutUndefined(defaults), ...config };
  const { route, scopeHeader, credentialHeaders, ...rest } = merged;
  const options: RouteOptions = { ...rest };
  const scope = proxyScope(scopeHeader?.toLowerCase(), credentialHeaders ?? DEFAULT_CREDENTIALS);
  if (scope) options.scope = scope;
  return { route, options };
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function show(value: unknown): string {
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 40 ? `${text.slice(0, 40)}...` : text;
}
