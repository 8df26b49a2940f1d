import { type Command, InvalidArgumentError, Option } from "commander";
import { toMilliseconds } from "../core/duration.js";
import { credentialName } from "./proxy/scope.js";
import { DEFAULT_STORE_URL } from "./store-url.js";

// Options and value parsers shared by the commands. A value that does not parse is a usage error, reported by
// commander in one line ("option '--limit <n>' argument 'x' is invalid. ...") with exit code 1.

/** Adds `--store` and `--json`, which every command takes. */
export function addStoreOptions(command: Command): Command {
  return command
    .addOption(
      new Option("-s, --store <url>", "the store to read: see `oncely --help` for store URLs")
        .env("ONCELY_STORE")
        .default(DEFAULT_STORE_URL),
    )
    .option("--json", "print machine-readable JSON instead of text");
}

/** A whole number of at least `min`. */
export function wholeNumber(min: number): (value: string) => number {
  return (value) => {
    const number = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(number) || number < min) {
      throw new InvalidArgumentError(`Expected a whole number of at least ${min}.`);
    }
    return number;
  };
}

/** A duration such as "90s", "30m", "24h", "7d", or milliseconds. */
export function duration(value: string): number {
  try {
    return toMilliseconds(/^\d+$/.test(value.trim()) ? Number(value) : value, "duration");
  } catch {
    throw new InvalidArgumentError('Expected a duration such as "30m", "24h" or "7d".');
  }
}

/** The syntax of an HTTP header name (RFC 9110 §5.1, a token). */
export const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * A header name, lower-cased: HTTP names are case-insensitive and Node.js hands every incoming name over in lower
 * case, so `X-Account-Id` as a user writes it must find `x-account-id`.
 */
export function headerName(value: string): string {
  if (!HEADER_NAME.test(value)) throw new InvalidArgumentError('Expected a header name such as "X-Account-Id".');
  return value.toLowerCase();
}

/** A `--credential-header`: a header name (lower-cased) or `cookie:NAME`. */
export function credentialHeader(value: string, previous: string[] = []): string[] {
  const name = credentialName(value, HEADER_NAME);
  if (name === undefined) {
    throw new InvalidArgumentError('Expected a header name such as "Authorization", or "cookie:NAME" for one cookie.');
  }
  return [...previous, name];
}

/** Collects a repeatable option's values in order. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** The exit codes, as every command's help ends with them. */
export function exitCodesHelp(codes: readonly (readonly [number, string])[]): string {
  return `\nExit codes:\n${codes.map(([code, meaning]) => `  ${code}  ${meaning}`).join("\n")}\n`;
}
