import { readFileSync } from "node:fs";
import { toMilliseconds } from "../../core/duration.js";
import type { RouteOptions } from "../../core/options.js";
import { headerValue } from "../../core/request.js";
import { UsageError } from "../errors.js";
import type { ProxyRoute } from "./proxy.js";
import { parseRoutePattern } from "./routes.js";

// The proxy's config file: which routes to guard and how, as JSON. Every mistake is one line naming the file, the
// route and the field, and exits as a usage error before anything is opened.
//
// {
//   "routes": [
//     { "route": "POST /charges", "required": true, "scopeHeader": "x-account-id" },
//     { "route": "POST /charges/*/refunds", "ttl": "7d", "onInFlight": "wait" }
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
  onInFlight?: "reject" | "wait";
  waitTimeout?: number;
  maxRequestBytes?: number;
  maxResponseBytes?: number;
  fingerprintHeaders?: string[];
  /** Requests per (scope, key) per window in this process (429 past it), or `false`. */
  rateLimit?: false | { max: number; window: number };
}

/** What `--ttl`, `--required` and `--scope-header` set for every route that does not set its own. */
export type RouteDefaults = Pick<RouteConfig, "ttl" | "required" | "scopeHeader">;

type Field = (value: unknown, where: string) => unknown;

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

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
    throw new UsageError(`${where}: expected a header name such as "x-account-id", got ${show(value)}`);
  }
  return value.toLowerCase();
};
const headers: Field = (value, where) => {
  if (!Array.isArray(value)) throw new UsageError(`${where}: expected an array of header names, got ${show(value)}`);
  return value.map((name, index) => header(name, `${where}[${index}]`));
};
const inFlight: Field = (value, where) => {
  if (value !== "reject" && value !== "wait") {
    throw new UsageError(`${where}: expected "reject" or "wait", got ${show(value)}`);
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
  onInFlight: inFlight,
  waitTimeout: duration,
  maxRequestBytes: bytes,
  maxResponseBytes: bytes,
  fingerprintHeaders: headers,
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
  const { route, scopeHeader, ...rest } = merged;
  const options: RouteOptions = { ...rest };
  // The header's value goes to the engine as is: it stores and logs only a hash of it (and of the key with it),
  // and `oncely inspect KEY --scope VALUE` then finds the record by the same value.
  if (scopeHeader) options.scope = (request) => headerValue(request, scopeHeader) ?? "";
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
