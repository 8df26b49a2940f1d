import { type Command, Option } from "commander";
import { sealedKeyId } from "../../core/aes-gcm.js";
import type { IdempotencyRecord, RecordState } from "../../core/store.js";
import { ExitCode } from "../errors.js";
import { bytes, plural, relativeTime, table } from "../format.js";
import { addStoreOptions, duration, exitCodesHelp, wholeNumber } from "../options.js";
import { recordSummary, routeMatcher, routeOf } from "../record-view.js";
import { type CliIo, type Session, type StoreCommandOptions, scanPages, withSession } from "../session.js";

interface ListCommandOptions extends StoreCommandOptions {
  state?: RecordState;
  route?: string;
  since?: number;
  olderThan?: number;
  limit: number;
  pageSize: number;
}

export const STATES: readonly RecordState[] = ["in-flight", "released", "completed"];

export function registerList(program: Command, io: CliIo, setExit: (code: number) => void): Command {
  const command = program
    .command("list")
    .summary("list records, newest first, filtered by state, route and age")
    .description(
      "List stored records (expired ones are never listed), newest first, filtered by state, route and age.\n\n" +
        "With --json, prints one JSON object per line (JSON Lines), ready for jq. Whether more records exist than " +
        "--limit allows is said on stderr, so stdout stays parseable.\n\n" +
        "SQL stores list newest first across the whole store; Redis and DynamoDB have no global order, so the " +
        "records shown are the first found, then sorted.",
    )
    .addOption(new Option("--state <state>", "only records in this state").choices(STATES))
    .option("--route <route>", 'only records of this route: "POST /charges", "/charges" or "/charges/*"')
    .option("--since <duration>", 'only records created within this long ago: "30m", "24h", "7d"', duration)
    .option("--older-than <duration>", 'only records created longer ago than this: "1h"', duration)
    .option("-n, --limit <n>", "the most records to print", wholeNumber(1), 100)
    .option("--page-size <n>", "records read per store call", wholeNumber(1), 100);
  addStoreOptions(command)
    .addHelpText(
      "after",
      "\nExamples:\n" +
        "  oncely list --state in-flight --older-than 5m\n" +
        '  oncely list --route "POST /charges" --since 1h --json | jq -r .key\n' +
        exitCodesHelp([
          [0, "listed (also when nothing matched)"],
          [1, "usage error (bad option, bad store URL)"],
          [3, "the store could not be opened or read"],
        ]),
    )
    .action(async (options: ListCommandOptions) => {
      const matchesRoute = () => (options.route === undefined ? () => true : routeMatcher(options.route));
      setExit(await withSession(io, options, matchesRoute, (session, route) => list(session, options, route)));
    });
  return command;
}

async function list(
  session: Session,
  options: ListCommandOptions,
  matchesRoute: (record: IdempotencyRecord) => boolean,
): Promise<number> {
  const before = options.olderThan === undefined ? Number.POSITIVE_INFINITY : session.now - options.olderThan;
  const filters = {
    pageSize: options.pageSize,
    ...(options.state ? { state: options.state } : {}),
    ...(options.since === undefined ? {} : { since: session.now - options.since }),
  };
  const shown: IdempotencyRecord[] = [];
  let more = false;
  let read = 0;
  const reading = session.progress("records", "read");
  try {
    for await (const page of scanPages(session.store, filters)) {
      read += page.records.length;
      reading.update(read);
      const matches = page.records.filter((record) => record.createdAt < before && matchesRoute(record));
      const taken = matches.slice(0, options.limit - shown.length);
      shown.push(...taken);
      if (shown.length >= options.limit) {
        // Matches left on this page, or pages after it, may be more records for the reader.
        more = matches.length > taken.length || page.more;
        break;
      }
    }
  } finally {
    reading.done();
  }
  shown.sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1));
  if (session.json) {
    for (const record of shown) session.out(JSON.stringify(recordSummary(record)));
  } else if (shown.length > 0) {
    session.out(render(shown, session));
  }
  if (more) session.note(`${plural(shown.length, "record")} shown; more may match (raise --limit)`);
  else if (!session.json) session.note(shown.length === 0 ? "no records match" : plural(shown.length, "record"));
  return ExitCode.ok;
}

const STATE_COLOUR = { completed: "green", "in-flight": "yellow", released: "cyan" } as const;

function render(records: IdempotencyRecord[], { paint, now }: Session): string {
  const rows = records.map((record) => {
    const status = record.response?.status;
    const sealed = record.response && sealedKeyId(record.response) !== undefined ? " sealed" : "";
    const size = record.response ? `${bytes(record.response.body.byteLength)}${sealed}` : "-";
    return [
      paint.dim(relativeTime(record.createdAt, now)),
      paint[STATE_COLOUR[record.state]](record.state),
      status === undefined ? "-" : status >= 400 ? paint.red(String(status)) : String(status),
      size,
      relativeTime(record.expiresAt, now),
      record.meta.scope ?? "-",
      routeOf(record),
      record.meta.key,
    ];
  });
  return table(["CREATED", "STATE", "STATUS", "BODY", "EXPIRES", "SCOPE", "ROUTE", "KEY"], rows, paint);
}
