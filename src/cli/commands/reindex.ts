import type { Command } from "commander";
import { ExitCode } from "../errors.js";
import { plural } from "../format.js";
import { addStoreOptions, exitCodesHelp } from "../options.js";
import { type CliIo, type Session, type StoreCommandOptions, withSession } from "../session.js";

export function registerReindex(program: Command, io: CliIo, setExit: (code: number) => void): Command {
  const command = program
    .command("reindex")
    .summary("index records an earlier oncely wrote without an index (Redis), once after upgrading")
    .description(
      "RedisStore keeps an index per prefix beside its records, so that list, stats and purge read oncely's " +
        "records and nothing else on the server. Records written before the index existed are not in it: run " +
        "this once after upgrading (it walks the server's keys with SCAN once; running it again changes nothing). " +
        "Records written since are indexed as they are written. Stores without such an index have nothing to do.",
    );
  addStoreOptions(command)
    .addHelpText(
      "after",
      "\nExamples:\n" +
        "  oncely reindex --store redis://127.0.0.1:6379?prefix=payments:\n" +
        '  oncely reindex --store redis://127.0.0.1:6379 --json   # {"indexed": 1200}\n' +
        exitCodesHelp([
          [0, "indexed (also when the store keeps no index)"],
          [1, "usage error (bad option, bad store URL)"],
          [3, "the store could not be opened, read or written"],
        ]),
    )
    .action(async (options: StoreCommandOptions) => {
      setExit(
        await withSession(
          io,
          options,
          () => undefined,
          (session) => reindex(session),
        ),
      );
    });
  return command;
}

async function reindex(session: Session): Promise<number> {
  const indexed = session.store.reindex ? await session.store.reindex() : 0;
  if (session.json) session.out(JSON.stringify({ indexed }, null, 2));
  else if (session.store.reindex) session.out(`indexed ${plural(indexed, "record")}`);
  else session.note(`the ${session.store.name} store keeps no index beside its records: nothing to do`);
  return ExitCode.ok;
}
