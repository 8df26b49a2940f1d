import { isOncelyError, StoreError } from "../core/errors.js";
import type { IdempotencyRecord, ListOptions, Store } from "../core/store.js";
import { type ErrorLineContext, ExitCode, errorLine, exitCodeFor } from "./errors.js";
import { colourWanted, type Palette, palette } from "./format.js";
import { openStore } from "./open-store.js";
import { type Progress, progress, SILENT } from "./progress.js";
import { DEFAULT_STORE_URL, parseStoreUrl, redactStoreUrl, storeUrlSecrets } from "./store-url.js";

// What every command shares: where output goes, the store it opened, and how a failure becomes one line and an
// exit code.

/** The process around the CLI; tests pass their own. */
export interface CliIo {
  stdout: { write(text: string): unknown; isTTY?: boolean };
  stderr: { write(text: string): unknown; isTTY?: boolean };
  env: Record<string, string | undefined>;
}

/** The options every store-reading command takes. */
export interface StoreCommandOptions {
  store: string;
  json?: boolean;
}

/** The operations the commands use, with every failure reported as a `StoreError` naming the store. */
export type ReadStore = Pick<Store, "name" | "get" | "list" | "purgeExpired" | "aggregate" | "reindex">;

export interface Session {
  store: ReadStore;
  json: boolean;
  paint: Palette;
  /** The time the command started, for ages and "expires in". */
  now: number;
  /** Writes a line to stdout. */
  out(line: string): void;
  /** Writes a line to stderr: notes for the reader that are not the command's result (a capped scan, no matches). */
  note(line: string): void;
  /**
   * A progress line on stderr for long work ("12,000 records read (4,000/s)"): only when stderr is a terminal and
   * the output is not `--json`; silent otherwise, so piped and JSON output stay as they are.
   */
  progress(noun: string, verb: string): Progress;
}

/**
 * How long each store operation may take: longer than the request path's 1 s, since an operator's scan reads pages
 * of records. A `?timeout=` in the store URL wins.
 */
const CLI_STORE_TIMEOUT = 10_000;

/**
 * Checks a command's arguments (`prepare`, before any store is touched), opens the store, runs the command's body,
 * closes the store, and turns any failure into one line on stderr. Resolves with the exit code.
 */
export async function withSession<T>(
  io: CliIo,
  options: StoreCommandOptions,
  prepare: () => T,
  body: (session: Session, prepared: T) => Promise<number | undefined>,
): Promise<number> {
  const context: ErrorLineContext = {
    defaultStore: options.store === DEFAULT_STORE_URL,
    storeUrl: redactStoreUrl(options.store),
    secrets: storeUrlSecrets(options.store),
  };
  let store: Store | undefined;
  try {
    const prepared = prepare();
    const spec = parseStoreUrl(options.store, io.env);
    store = await openStore(spec, { timeout: CLI_STORE_TIMEOUT, create: false, url: options.store });
    const session: Session = {
      store: checked(store),
      json: options.json === true,
      paint: palette(options.json !== true && colourWanted(io.stdout, io.env)),
      now: Date.now(),
      out: (line) => io.stdout.write(`${line}\n`),
      note: (line) => io.stderr.write(`${line}\n`),
      progress: (noun, verb) =>
        io.stderr.isTTY === true && options.json !== true ? progress(io.stderr, noun, verb) : SILENT,
    };
    return (await body(session, prepared)) ?? ExitCode.ok;
  } catch (error) {
    io.stderr.write(`${errorLine(error, context)}\n`);
    if (io.env.ONCELY_DEBUG && error instanceof Error) io.stderr.write(`${error.stack}\n`);
    return exitCodeFor(error);
  } finally {
    // Closed before the process ends: a connection left open would keep it alive, and SQLite's file stays consistent.
    await store?.close().catch(() => {});
  }
}

/** Wraps the store so that anything it throws reaches the user as a store failure (exit code 3). */
function checked(store: Store): ReadStore {
  const call =
    <A extends unknown[], R>(operation: string, method: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      try {
        return await method.apply(store, args);
      } catch (error) {
        if (error instanceof StoreError) throw error;
        const message = isOncelyError(error) || error instanceof Error ? error.message : String(error);
        throw new StoreError(store.name, operation, `failed: ${message}`, { cause: error });
      }
    };
  return {
    name: store.name,
    get: call("get", store.get),
    list: call("list", store.list),
    purgeExpired: call("purgeExpired", store.purgeExpired),
    ...(store.aggregate ? { aggregate: call("aggregate", store.aggregate) } : {}),
    ...(store.reindex ? { reindex: call("reindex", store.reindex) } : {}),
  };
}

/** One page of a scan; `more` is true when the store has records after it. */
export interface ScanPage {
  records: IdempotencyRecord[];
  more: boolean;
}

/**
 * Walks the store's records page by page (each page one `list` call). Stops when the store has no more, or when the
 * caller stops iterating. Pages may be empty and still have more after them (Redis scans by time slice).
 */
export async function* scanPages(
  store: ReadStore,
  options: Omit<ListOptions, "cursor" | "limit"> & { pageSize: number },
): AsyncGenerator<ScanPage, void, void> {
  const { pageSize, ...filters } = options;
  let cursor: string | undefined;
  do {
    const page = await store.list({ ...filters, limit: pageSize, ...(cursor === undefined ? {} : { cursor }) });
    cursor = page.cursor;
    yield { records: page.records, more: cursor !== undefined };
  } while (cursor !== undefined);
}
