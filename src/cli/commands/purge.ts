import type { Command } from "commander";
import { ExitCode, UsageError } from "../errors.js";
import { plural } from "../format.js";
import { addStoreOptions, exitCodesHelp, wholeNumber } from "../options.js";
import { type CliIo, type Session, type StoreCommandOptions, withSession } from "../session.js";

interface PurgeOptions extends StoreCommandOptions {
  expired?: boolean;
  limit?: number;
}

/**
 * Expired records deleted per store call (the store deletes them with its own bulk delete): each call stays well
 * within the store timeout, and a terminal sees progress between calls.
 */
const PURGE_BATCH = 10_000;

export function registerPurge(program: Command, io: CliIo, setExit: (code: number) => void): Command {
  const command = program
    .command("purge")
    .summary("delete expired records")
    .description(
      "Delete records whose retention (TTL) has run out. They are already invisible (an expired key is new " +
        "again); purging frees their space. Stores with native expiry (Redis, DynamoDB TTL) mostly do this on " +
        "their own; SQL stores need it from a cron:\n\n" +
        "  */15 * * * *  oncely purge --expired --limit 10000 --store postgres://...\n\n" +
        "--expired is required, so that a bare `oncely purge` never deletes anything.",
    )
    .option("--expired", "delete expired records (required)")
    .option("-n, --limit <n>", "the most records to delete in this run (default: all expired)", wholeNumber(1));
  addStoreOptions(command)
    .addHelpText(
      "after",
      "\nExamples:\n" +
        "  oncely purge --expired\n" +
        '  oncely purge --expired --limit 5000 --json   # {"purged": 5000, "limit": 5000, "limitReached": true}\n' +
        exitCodesHelp([
          [0, "purged (also when nothing was expired)"],
          [1, "usage error (no --expired, bad option, bad store URL)"],
          [3, "the store could not be opened or written"],
        ]),
    )
    .action(async (options: PurgeOptions) => {
      setExit(
        await withSession(
          io,
          options,
          () => checkPurge(options),
          (session) => purge(session, options),
        ),
      );
    });
  return command;
}

function checkPurge(options: PurgeOptions): void {
  if (!options.expired) {
    throw new UsageError("purge deletes expired records only: pass --expired (see oncely purge --help)");
  }
}

async function purge(session: Session, options: PurgeOptions): Promise<number> {
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  const shown = session.progress("expired records", "deleted");
  let purged = 0;
  try {
    while (purged < limit) {
      const asked = Math.min(PURGE_BATCH, limit - purged);
      const deleted = await session.store.purgeExpired({ limit: asked });
      purged += deleted;
      shown.update(purged);
      // Fewer than asked: no expired record is left.
      if (deleted < asked) break;
    }
  } finally {
    shown.done();
  }
  const limitReached = options.limit !== undefined && purged >= options.limit;
  if (session.json) {
    session.out(JSON.stringify({ purged, limit: options.limit ?? null, limitReached }, null, 2));
  } else {
    session.out(`purged ${plural(purged, "expired record")}`);
  }
  if (limitReached) session.note("reached --limit: more expired records may remain (run it again)");
  return ExitCode.ok;
}
