import type { Command } from "commander";
import { sealedKeyId } from "../../core/aes-gcm.js";
import type { IdempotencyRecord, RecordState } from "../../core/store.js";
import { ExitCode } from "../errors.js";
import { bytes, fields, timestamp } from "../format.js";
import { addStoreOptions, exitCodesHelp, wholeNumber } from "../options.js";
import { routeOf } from "../record-view.js";
import { type CliIo, type Session, type StoreCommandOptions, scanPages, withSession } from "../session.js";

interface StatsOptions extends StoreCommandOptions {
  limit: number;
  pageSize: number;
}

/** What `stats --json` prints. */
export interface Stats {
  /** Records read; at most `limit`. */
  scanned: number;
  limit: number;
  /** True when the scan stopped at `limit` and the store has more records: every count is then a lower bound. */
  capped: boolean;
  states: Record<RecordState, number>;
  /** When the oldest and the newest record scanned were created; null when none were. */
  oldest: string | null;
  newest: string | null;
  /** Bytes of stored response bodies (as stored: sealed bodies count their sealed size). */
  bodyBytes: number;
  /** Completed records whose response was over `maxResponseBytes` (only the status was kept). */
  notKept: number;
  /** Completed records whose response is sealed by encryption at rest. */
  sealed: number;
  /**
   * Expired records not purged yet; null: the store contract lists live records only, so the CLI cannot count them
   * (`oncely purge --expired` removes them either way).
   */
  expiredNotPurged: number | null;
  /** Records per route, most first (at most 10). */
  routes: { route: string; records: number }[];
}

export function registerStats(program: Command, io: CliIo, setExit: (code: number) => void): Command {
  const command = program
    .command("stats")
    .summary("count records by state, route and age; sum stored body bytes")
    .description(
      "Scan the store's records (page by page, up to --limit) and count them by state and route, find the oldest " +
        "and newest, and add up the bytes of stored response bodies. When the scan stops at --limit before the " +
        "end of the store, every count is a lower bound, and the output says so.",
    )
    .option("-n, --limit <n>", "the most records to scan", wholeNumber(1), 100_000)
    .option("--page-size <n>", "records read per store call", wholeNumber(1), 500);
  addStoreOptions(command)
    .addHelpText(
      "after",
      "\nExamples:\n" +
        "  oncely stats --store redis://127.0.0.1:6379\n" +
        "  oncely stats --json | jq .states\n" +
        exitCodesHelp([
          [0, "counted"],
          [1, "usage error (bad option, bad store URL)"],
          [3, "the store could not be opened or read"],
        ]),
    )
    .action(async (options: StatsOptions) => {
      setExit(
        await withSession(
          io,
          options,
          () => undefined,
          (session) => stats(session, options),
        ),
      );
    });
  return command;
}

async function stats(session: Session, options: StatsOptions): Promise<number> {
  const result = await count(session, options);
  if (session.json) session.out(JSON.stringify(result, null, 2));
  else session.out(render(result, session));
  if (result.capped) {
    session.note(`scan stopped at --limit ${options.limit}: the store has more records; counts are lower bounds`);
  }
  return ExitCode.ok;
}

async function count(session: Session, options: StatsOptions): Promise<Stats> {
  const states: Record<RecordState, number> = { "in-flight": 0, released: 0, completed: 0 };
  const routes = new Map<string, number>();
  let scanned = 0;
  let oldest: number | undefined;
  let newest: number | undefined;
  let bodyBytes = 0;
  let notKept = 0;
  let sealed = 0;
  let capped = false;
  const tally = (record: IdempotencyRecord) => {
    scanned++;
    states[record.state]++;
    const route = routeOf(record);
    routes.set(route, (routes.get(route) ?? 0) + 1);
    oldest = Math.min(oldest ?? record.createdAt, record.createdAt);
    newest = Math.max(newest ?? record.createdAt, record.createdAt);
    if (!record.response) return;
    bodyBytes += record.response.body.byteLength;
    if (!record.response.kept) notKept++;
    if (sealedKeyId(record.response) !== undefined) sealed++;
  };
  for await (const page of scanPages(session.store, { pageSize: Math.min(options.pageSize, options.limit) })) {
    const room = options.limit - scanned;
    page.records.slice(0, room).forEach(tally);
    if (scanned >= options.limit) {
      capped = page.records.length > room || page.more;
      break;
    }
  }
  const iso = (at: number | undefined) => (at === undefined ? null : new Date(at).toISOString());
  return {
    scanned,
    limit: options.limit,
    capped,
    states,
    oldest: iso(oldest),
    newest: iso(newest),
    bodyBytes,
    notKept,
    sealed,
    expiredNotPurged: null,
    routes: [...routes]
      .sort(([a, countA], [b, countB]) => countB - countA || a.localeCompare(b))
      .slice(0, 10)
      .map(([route, records]) => ({ route, records })),
  };
}

function render(result: Stats, { paint, now }: Session): string {
  const { states } = result;
  const capped = result.capped ? paint.yellow(` (stopped at --limit ${result.limit}; more exist)`) : "";
  const rows: [string, string][] = [
    ["records", `${result.scanned}${capped}`],
    ["completed", String(states.completed)],
    ["in-flight", String(states["in-flight"])],
    ["released", String(states.released)],
    ["oldest", result.oldest === null ? "-" : timestamp(Date.parse(result.oldest), now, paint)],
    ["newest", result.newest === null ? "-" : timestamp(Date.parse(result.newest), now, paint)],
    [
      "body bytes",
      result.bodyBytes < 1024
        ? bytes(result.bodyBytes)
        : `${bytes(result.bodyBytes)} ${paint.dim(`(${result.bodyBytes})`)}`,
    ],
    ["not kept", String(result.notKept)],
    ["sealed", String(result.sealed)],
    ["expired", paint.dim("not counted: stores list live records only; `oncely purge --expired` removes them")],
  ];
  const lines = [fields(rows, paint)];
  if (result.routes.length > 0) {
    lines.push("", paint.bold("top routes"));
    const width = Math.max(...result.routes.map(({ records }) => String(records).length));
    for (const { route, records } of result.routes) lines.push(`  ${String(records).padStart(width)}  ${route}`);
  }
  if (result.scanned === 0) lines.push("", paint.dim("no records in the store"));
  return lines.join("\n");
}
