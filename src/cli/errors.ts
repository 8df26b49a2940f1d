import { isOncelyError, StoreError } from "../core/errors.js";
import { StoreDriverMissingError } from "../stores/shared/optional-driver.js";
import { scrubSecrets } from "../stores/shared/redact-url.js";
import { StoreUrlError } from "./store-url.js";

/** The CLI's exit codes; documented in `oncely --help` and docs/cli.md. */
export const ExitCode = {
  /** The command did what was asked. */
  ok: 0,
  /** A usage error: unknown command or option, bad option value, bad store URL. Also any unexpected error. */
  usage: 1,
  /** `inspect` found no record for the key. */
  notFound: 2,
  /** The store could not be opened, reached or used (its driver missing, the server down, a query failed). */
  store: 3,
} as const;

/** A command was given something it cannot use; exits 1. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** The record asked for does not exist; exits 2. */
export class NotFoundError extends Error {
  override readonly name = "NotFoundError";
}

/** Which exit code an error ends the CLI with. */
export function exitCodeFor(error: unknown): number {
  if (error instanceof NotFoundError) return ExitCode.notFound;
  if (error instanceof StoreUrlError || error instanceof UsageError) return ExitCode.usage;
  if (error instanceof StoreError) return ExitCode.store;
  return ExitCode.usage;
}

export interface ErrorLineContext {
  /** True when the store URL is the default one, which the user never chose. */
  defaultStore: boolean;
  /** The store URL, redacted. */
  storeUrl: string;
  /** What must never be printed (the store URL's password, see `storeUrlSecrets`), whatever a driver's message says. */
  secrets?: readonly string[];
}

/**
 * The one line the CLI prints for an error: what went wrong and, where there is one, what to do about it. Store
 * errors keep their store name ("[redis] list failed: ...") but drop oncely's own "[oncely]" tag.
 */
export function errorLine(error: unknown, context: ErrorLineContext): string {
  let message: string;
  if (error instanceof StoreDriverMissingError && context.defaultStore) {
    message =
      `the default store (${context.storeUrl}) needs the "${error.packageName}" package: ` +
      `npm install ${error.packageName}, or pass --store memory: (or another store URL)`;
  } else if (error instanceof StoreError) {
    // Store errors already carry the driver's reason ("connect ECONNREFUSED 127.0.0.1:6379").
    const which = context.defaultStore
      ? `the default store ${context.storeUrl}; pass --store for another`
      : `store ${context.storeUrl}`;
    message = `${stripTag(error.message)} (${which})`;
  } else if (error instanceof Error) {
    message = isOncelyError(error) ? stripTag(error.message) : error.message;
  } else {
    message = String(error);
  }
  // One line, whatever the driver put in its message.
  return `oncely: ${scrubSecrets(message, context.secrets ?? [])
    .replace(/\s*\n\s*/g, " ")
    .trim()}`;
}

function stripTag(message: string): string {
  return message.replace(/^\[oncely\]\s*/, "");
}
