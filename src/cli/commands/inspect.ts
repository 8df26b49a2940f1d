import type { Command } from "commander";
import { sealedKeyId } from "../../core/aes-gcm.js";
import { createResponseCipher } from "../../core/encryption.js";
import { isOncelyError } from "../../core/errors.js";
import { parseIdempotencyKey } from "../../core/key.js";
import { recordId } from "../../core/record-id.js";
import type { IdempotencyRecord, StoredResponse } from "../../core/store.js";
import { hexDump } from "../body-preview.js";
import { ExitCode, NotFoundError, UsageError } from "../errors.js";
import { bytes, fields, type Palette, timestamp } from "../format.js";
import { addStoreOptions, collect, exitCodesHelp, wholeNumber } from "../options.js";
import { type RecordDetail, recordDetail, routeMatcher, routeOf } from "../record-view.js";
import {
  type CliIo,
  type ReadStore,
  type Session,
  type StoreCommandOptions,
  scanPages,
  withSession,
} from "../session.js";

interface InspectOptions extends StoreCommandOptions {
  scope?: string;
  id?: string;
  route?: string;
  bodyBytes: number;
  encryptionKey?: string[];
}

/** How many records a "not found" looks through for the same key under another scope. */
const HINT_SCAN_LIMIT = 5_000;

export function registerInspect(program: Command, io: CliIo, setExit: (code: number) => void): Command {
  const command = program
    .command("inspect")
    .summary("show one record: state, times, fingerprint, stored response")
    .description(
      "Show the record of one Idempotency-Key: its state, when it was created and expires, its fingerprint, and " +
        "the stored response (status, headers and a preview of the body).\n\n" +
        "A record is stored under (scope, key). Pass --scope with the same value your app's `scope()` returns " +
        "(the account or tenant id), or --id with an id from `oncely list --json`.",
    )
    .argument("[key]", "the Idempotency-Key, as the client sent it")
    .option("--scope <scope>", "the scope the key belongs to, as your app's scope() returns it")
    .option("--id <id>", "the record id (from `oncely list --json`) instead of key and scope")
    .option("--route <route>", 'only a record of this route: "POST /charges", "/charges" or "/charges/*"')
    .option("--body-bytes <n>", "the most body bytes to show", wholeNumber(0), 512)
    .option(
      "--encryption-key <id=base64>",
      "a key to open responses sealed by encryption at rest (repeatable)",
      collect,
    );
  addStoreOptions(command)
    .addHelpText(
      "after",
      "\nExamples:\n" +
        "  oncely inspect 5f1c7a8e-2b7d-4d6e-9a51-3c2f0e4b8d10 --scope acct_42\n" +
        "  oncely inspect order-17 --store redis://127.0.0.1:6379 --json\n" +
        exitCodesHelp([
          [0, "the record was found and shown"],
          [1, "usage error (bad option, bad store URL)"],
          [2, "no record for this key (and scope, and route)"],
          [3, "the store could not be opened or read"],
        ]),
    )
    .action(async (key: string | undefined, options: InspectOptions) => {
      const prepare = () => checkInspect(key, options);
      setExit(await withSession(io, options, prepare, (session, checked) => inspect(session, key, options, checked)));
    });
  return command;
}

interface Checked {
  id: string;
  cipher: ReturnType<typeof createResponseCipher> | undefined;
  matchesRoute: ((record: IdempotencyRecord) => boolean) | undefined;
}

function checkInspect(key: string | undefined, options: InspectOptions): Checked {
  return {
    id: requestedId(key, options),
    cipher: cipherFrom(options.encryptionKey),
    matchesRoute: options.route === undefined ? undefined : routeMatcher(options.route),
  };
}

async function inspect(
  session: Session,
  key: string | undefined,
  options: InspectOptions,
  { id, cipher, matchesRoute }: Checked,
): Promise<number> {
  const record = await session.store.get(id);
  const asked = key === undefined ? `id ${id}` : `key ${JSON.stringify(key)}${scopeText(options.scope)}`;
  if (!record) throw new NotFoundError(`no record for ${asked}${await elsewhereHint(session.store, key, id)}`);
  if (matchesRoute && !matchesRoute(record)) {
    throw new NotFoundError(`no record for ${asked} on ${options.route}: the key was used on ${routeOf(record)}`);
  }
  const { opened, failure } = await open(record, cipher);
  const detail = recordDetail(record, {
    bodyBytes: options.bodyBytes,
    ...(opened ? { opened } : {}),
    ...(failure ? { decryptionError: failure } : {}),
  });
  session.out(session.json ? JSON.stringify(detail, null, 2) : render(record, detail, { ...session, ...options }));
  return ExitCode.ok;
}

/** The storage id the engine derives from (scope, key), or the `--id` given. */
function requestedId(key: string | undefined, options: InspectOptions): string {
  if (options.id !== undefined) {
    if (key !== undefined || options.scope !== undefined) {
      throw new UsageError("inspect takes a key (with --scope) or --id, not both");
    }
    return options.id;
  }
  if (key === undefined) throw new UsageError("inspect needs a key, or --id (see oncely inspect --help)");
  let parsed: string | undefined;
  try {
    parsed = parseIdempotencyKey(key);
  } catch (error) {
    throw new UsageError(isOncelyError(error) ? error.message : String(error));
  }
  return recordId(options.scope, parsed!);
}

function scopeText(scope: string | undefined): string {
  return scope === undefined ? " without a scope" : ` in scope ${JSON.stringify(scope)}`;
}

/**
 * When a key is not found, looks (boundedly) for the same key under other scopes: the usual mistake is a missing or
 * different --scope. Says how to reach what it finds.
 */
async function elsewhereHint(store: ReadStore, key: string | undefined, id: string): Promise<string> {
  if (key === undefined) return "";
  const found: IdempotencyRecord[] = [];
  let scanned = 0;
  try {
    for await (const page of scanPages(store, { pageSize: 500 })) {
      found.push(...page.records.filter((record) => record.meta.key === key && record.id !== id));
      scanned += page.records.length;
      if (scanned >= HINT_SCAN_LIMIT) break;
    }
  } catch {
    // The hint is a courtesy: the answer is still "not found", whatever the scan ran into.
    return "";
  }
  if (found.length === 0) return "";
  const ids = found.slice(0, 3).map((record) => record.id);
  const more = found.length > ids.length ? ", ..." : "";
  const where = found.length === 1 ? "1 record with this key exists" : `${found.length} records with this key exist`;
  return `; ${where} under another scope: pass its --scope, or --id ${ids.join(", --id ")}${more}`;
}

/** Parses `--encryption-key id=base64` values into a cipher that opens sealed responses. */
function cipherFrom(values: string[] = []): ReturnType<typeof createResponseCipher> | undefined {
  if (values.length === 0) return undefined;
  const keys: Record<string, string> = {};
  for (const value of values) {
    const at = value.indexOf("=");
    if (at < 1) throw new UsageError(`--encryption-key takes id=base64, got ${JSON.stringify(value)}`);
    keys[value.slice(0, at)] = value.slice(at + 1);
  }
  try {
    return createResponseCipher({ current: Object.keys(keys)[0]!, keys });
  } catch (error) {
    throw new UsageError(`--encryption-key: ${(error as Error).message}`);
  }
}

async function open(
  record: IdempotencyRecord,
  cipher: ReturnType<typeof createResponseCipher> | undefined,
): Promise<{ opened?: StoredResponse; failure?: string }> {
  if (!record.response || !cipher || sealedKeyId(record.response) === undefined) return {};
  try {
    return { opened: await cipher.open(record.id, record.response) };
  } catch (error) {
    return { failure: (error as Error).message };
  }
}

const STATE_COLOUR = { completed: "green", "in-flight": "yellow", released: "cyan" } as const;

function render(
  record: IdempotencyRecord,
  detail: RecordDetail,
  view: { paint: Palette; now: number; bodyBytes: number },
): string {
  const { paint, now } = view;
  const rows: [string, string][] = [
    ["key", paint.bold(detail.key)],
    ["id", detail.id],
    ["state", paint[STATE_COLOUR[record.state]](record.state)],
    ["route", routeOf(record)],
    ["scope", detail.scope === null ? paint.dim("none") : `${detail.scope} ${paint.dim("(hash)")}`],
    ["created", timestamp(record.createdAt, now, paint)],
  ];
  if (record.completedAt !== undefined) rows.push(["completed", timestamp(record.completedAt, now, paint)]);
  if (record.state === "in-flight") rows.push(["lease until", timestamp(record.leaseUntil, now, paint)]);
  rows.push(
    ["expires", timestamp(record.expiresAt, now, paint)],
    ["fingerprint", detail.fingerprint],
    ["token", String(detail.token)],
    ["format", `v${detail.version}`],
    ["replays", detail.replays === null ? paint.dim("not counted by this store") : String(detail.replays)],
  );
  const response = detail.response;
  if (!response || !record.response) {
    rows.push(["response", paint.dim(record.state === "completed" ? "none" : "none yet (not completed)")]);
    return fields(rows, paint);
  }
  const status = response.status >= 400 ? paint.red(String(response.status)) : paint.green(String(response.status));
  rows.push(["status", status]);
  if (response.sealedWith !== null && !response.decrypted) {
    const how = response.decryptionError
      ? paint.red(`; could not open it: ${response.decryptionError}`)
      : paint.dim(`; pass --encryption-key ${response.sealedWith}=<base64> to read it`);
    rows.push(["response", `sealed with key ${response.sealedWith} (${bytes(response.bodyBytes)})${how}`]);
    return fields(rows, paint);
  }
  if (response.decrypted) rows.push(["sealed", `with key ${response.sealedWith}, opened`]);
  if (response.headers.length === 0) rows.push(["headers", paint.dim("none")]);
  response.headers.forEach(([name, value], index) => {
    rows.push([index === 0 ? "headers" : "", `${paint.cyan(name)}: ${value}`]);
  });
  if (!response.kept) {
    const why = "it was over maxResponseBytes; retries are answered with a response_not_kept problem";
    rows.push(["body", `${paint.yellow("not kept")}: ${why}`]);
    return fields(rows, paint);
  }
  const { body } = response;
  if (body.size === 0) {
    rows.push(["body", paint.dim("empty")]);
    return fields(rows, paint);
  }
  const cut = body.truncated ? `, first ${bytes(view.bodyBytes)} shown` : "";
  rows.push(["body", `${bytes(body.size)}, ${"text" in body ? "text" : "binary"}${cut}`]);
  return [fields(rows, paint), ...bodyLines(body, paint)].join("\n");
}

/** The body preview, indented under the fields: text as it is, binary as a hex dump. */
function bodyLines(body: NonNullable<RecordDetail["response"]>["body"], paint: Palette): string[] {
  const lines =
    "text" in body
      ? body.text.split("\n").map((line) => `  ${line}`)
      : hexDump(Buffer.from(body.base64, "base64")).map((line) => `  ${paint.dim(line)}`);
  if (body.truncated) lines.push(paint.dim("  ..."));
  return lines;
}
