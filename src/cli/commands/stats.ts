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
  scan?: boolean;
}

/** The window of "expiring soon". */
const EXPIRING_WITHIN = 3_600_000;

/** What `stats --json` prints. */
export interface Stats {
  /**
   * Where the counts come from: `aggregate`, the store's own queries over all its records (exact, without reading
   * them), or `scan`, the records read one page at a time, up to `limit` (stores without aggregate queries).
   */
  counted: "aggregate" | "scan";
  /** Live records counted. */
  records: number;
  /** Records read; at most `limit`; 0 when nothing was read (aggregate without `--scan`). */
  scanned: number;
  limit: number;
  /** True when the scan stopped at `limit` and the store has more records: its counts are then lower bounds. */
  capped: boolean;
  states: Record<RecordState, number>;
  /** When the oldest and the newest record counted were created; null when none were. */
  oldest: string | null;
  newest: string | null;
  /** Live records whose retention ends within the next hour. */
  expiringSoon: number;
  /**
   * Expired records not purged yet (`oncely purge --expired` removes them); null when the store has no aggregate
   * queries: its `list` shows live records only, so a scan cannot count them.
   */
  expiredNotPurged: number | null;
  /** Bytes of stored response bodies (as stored: sealed bodies count their sealed size); null unless scanned. */
  bodyBytes: number | null;
  /** Completed records whose response was over `maxResponseBytes` (only the status was kept); null unless scanned. */
  notKept: number | null;
  /** Completed records whose response is sealed by encryption at rest; null unless scanned. */
  sealed: number | null;
  /** Records per route, most first (at most 10); null unless scanned. */
  routes: { route: string; records: number }[] | null;
}

export function registerStats(program: Command, io: CliIo, setExit: (code: number) => void): Command {
  const command = program
    .command("stats")
    .summary("count records by state, route and age; sum stored body bytes")
    .description(
      "Count the store's live records by state, find the oldest and newest, and count those expiring within the " +
        "hour and the expired ones not purged yet. Every store oncely ships answers this with its own aggregate " +
        "queries (SQL COUNT and MIN/MAX, Redis's index, DynamoDB a projected scan) without reading records.\n\n" +
        "--scan also reads the records (page by page, up to --limit) to count them by route and add up the bytes " +
        "of stored response bodies; a store without aggregate queries is always scanned. When a scan stops at " +
        "--limit before the end of the store, its counts are lower bounds, and the output says so. On a terminal, " +
        "a scan shows its progress on stderr.",
    )
    .option("--scan", "also read every record (up to --limit): routes, body bytes, not kept, sealed")
    .option("-n, --limit <n>", "the most records to scan", wholeNumber(1), 100_000)
    .option("--page-size <n>", "records read per store call", wholeNumber(1), 500);
  addStoreOptions(command)
    .addHelpText(
      "after",
      "\nExamples:\n" +
        "  oncely stats --store redis://127.0.0.1:6379\n" +
        "  oncely stats --json | jq .states\n" +
        "  oncely stats --scan --limit 20000   # top routes and body bytes of up to 20,000 records\n" +
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
  const iso = (at: number | undefined) => (at === undefined ? null : new Date(at).toISOString());
  const aggregate = await session.store.aggregate?.({ expiringWithin: EXPIRING_WITHIN });
  const read = options.scan || !aggregate ? await scan(session, options) : undefined;
  const counts = aggregate ?? read!;
  return {
    counted: aggregate ? "aggregate" : "scan",
    records: counts.states["in-flight"] + counts.states.released + counts.states.completed,
    scanned: read?.scanned ?? 0,
    limit: options.limit,
    capped: read?.capped ?? false,
    states: counts.states,
    oldest: iso(counts.oldest),
    newest: iso(counts.newest),
    expiringSoon: counts.expiringSoon,
    expiredNotPurged: aggregate?.expired ?? null,
    bodyBytes: read?.bodyBytes ?? null,
    notKept: read?.notKept ?? null,
    sealed: read?.sealed ?? null,
    routes: read
      ? [...read.routes]
          .sort(([a, countA], [b, countB]) => countB - countA || a.localeCompare(b))
          .slice(0, 10)
          .map(([route, records]) => ({ route, records }))
      : null,
  };
}

/** What reading the records (up to `--limit`) finds. */
interface Scan {
  scanned: number;
  capped: boolean;
  states: Record<RecordState, number>;
  oldest?: number;
  newest?: number;
  expiringSoon: number;
  bodyBytes: number;
  notKept: number;
  sealed: number;
  routes: Map<string, number>;
}

async function scan(session: Session, options: StatsOptions): Promise<Scan> {
  const found: Scan = {
    ...{ scanned: 0, capped: false, states: { "in-flight": 0, released: 0, completed: 0 }, expiringSoon: 0 },
    ...{ bodyBytes: 0, notKept: 0, sealed: 0, routes: new Map() },
  };
  const tally = (record: IdempotencyRecord) => {
    found.scanned++;
    found.states[record.state]++;
    if (record.expiresAt <= session.now + EXPIRING_WITHIN) found.expiringSoon++;
    const route = routeOf(record);
    found.routes.set(route, (found.routes.get(route) ?? 0) + 1);
    found.oldest = Math.min(found.oldest ?? record.createdAt, record.createdAt);
    found.newest = Math.max(found.newest ?? record.createdAt, record.createdAt);
    if (!record.response) return;
    found.bodyBytes += record.response.body.byteLength;
    if (!record.response.kept) found.notKept++;
    if (sealedKeyId(record.response) !== undefined) found.sealed++;
  };
  const reading = session.progress("records", "read");
  try {
    for await (const page of scanPages(session.store, { pageSize: Math.min(options.pageSize, options.limit) })) {
      const room = options.limit - found.scanned;
      page.records.slice(0, room).forEach(tally);
      reading.update(found.scanned);
      if (found.scanned >= options.limit) {
        found.capped = page.records.length > room || page.more;
        break;
      }
    }
  } finally {
    reading.done();
  }
  return found;
}

function render(result: Stats, { paint, now }: Session): string {
  const { states } = result;
  const capped = result.capped ? paint.yellow(` (stopped at --limit ${result.limit}; more exist)`) : "";
  const bodyBytes = result.bodyBytes ?? 0;
  const rows: [string, string][] = [
    ["records", `${result.records}${capped}`],
    ["completed", String(states.completed)],
    ["in-flight", String(states["in-flight"])],
    ["released", String(states.released)],
    ["oldest", result.oldest === null ? "-" : timestamp(Date.parse(result.oldest), now, paint)],
    ["newest", result.newest === null ? "-" : timestamp(Date.parse(result.newest), now, paint)],
    ["expiring", `${result.expiringSoon} ${paint.dim("within the hour")}`],
    [
      "expired",
      result.expiredNotPurged === null
        ? paint.dim("not counted: this store lists live records only; `oncely purge --expired` removes them")
        : `${result.expiredNotPurged} ${paint.dim("not purged yet")}`,
    ],
  ];
  if (result.bodyBytes !== null) {
    rows.push(
      ["body bytes", bodyBytes < 1024 ? bytes(bodyBytes) : `${bytes(bodyBytes)} ${paint.dim(`(${bodyBytes})`)}`],
      ["not kept", String(result.notKept)],
      ["sealed", String(result.sealed)],
    );
  }
  const lines = [fields(rows, paint)];
  if (result.routes && result.routes.length > 0) {
    lines.push("", paint.bold("top routes"));
    const width = Math.max(...result.routes.map(({ records }) => String(records).length));
    for (const { route, records } of result.routes) lines.push(`  ${String(records).padStart(width)}  ${route}`);
  }
  if (result.records === 0) lines.push("", paint.dim("no records in the store"));
  else if (result.routes === null) lines.push("", paint.dim("routes and body bytes: add --scan (reads every record)"));
  return lines.join("\n");
}
