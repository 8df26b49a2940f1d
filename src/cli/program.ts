import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { STORES } from "../stores/registry.js";
import { registerInspect } from "./commands/inspect.js";
import { registerList } from "./commands/list.js";
import { registerProxy } from "./commands/proxy.js";
import { registerPurge } from "./commands/purge.js";
import { registerReindex } from "./commands/reindex.js";
import { registerStats } from "./commands/stats.js";
import { ExitCode } from "./errors.js";
import { exitCodesHelp } from "./options.js";
import type { CliIo } from "./session.js";

const STORE_URLS = `
Store URLs (--store, or the ONCELY_STORE environment variable):
${STORES.map(({ help: [url, what] }) => `  ${url.padEnd(28)}${what}\n`).join("")}  Every URL also takes ?timeout=10s, the limit on each store call. Passwords
  (user:PASSWORD@, ?password=) print as ***; a URL that does not split cleanly
  prints as redis://*** (encode "@" in a password as %40).

--json: inspect, purge, stats and reindex print one JSON document; list prints
one JSON object per line. Errors are one line on stderr ("oncely: ...");
ONCELY_DEBUG=1 adds the stack. Colour appears only on a terminal, and never with NO_COLOR set.
`;

/** The version in package.json, which sits two levels above both src/cli and dist/cli. */
function version(): string {
  try {
    return JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")).version as string;
  } catch {
    return "unknown";
  }
}

/**
 * Runs the CLI on `argv` (the arguments after `node oncely`) and resolves with its exit code. Never exits the
 * process itself, so it can run inside tests and so the store is always closed first.
 *
 * @example
 * process.exitCode = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env });
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let exitCode: number = ExitCode.ok;
  const setExit = (code: number) => {
    exitCode = code;
  };
  const program = new Command("oncely")
    .description("Look into an oncely idempotency store: inspect a key, list, purge and count records.")
    .version(version(), "-V, --version")
    .exitOverride()
    .configureOutput(output(io, "oncely"))
    .addHelpText(
      "after",
      STORE_URLS +
        exitCodesHelp([
          [0, "success"],
          [1, "usage error: unknown command or option, bad value, bad store URL"],
          [2, "not found: inspect found no record for the key"],
          [3, "store error: the store could not be opened, reached or read (driver missing, server down)"],
        ]),
    );
  for (const register of [
    registerInspect,
    registerList,
    registerPurge,
    registerStats,
    registerReindex,
    registerProxy,
  ]) {
    const command = register(program, io, setExit);
    command.configureOutput(output(io, `oncely ${command.name()}`));
  }
  try {
    await program.parseAsync(argv, { from: "user" });
    return exitCode;
  } catch (error) {
    // Help and --version arrive here too, with exit code 0; commander has already printed them.
    if (error instanceof CommanderError) return error.exitCode;
    io.stderr.write(`oncely: ${(error as Error).message ?? String(error)}\n`);
    return ExitCode.usage;
  }
}

/** Where commander writes, and its errors reworded as the CLI's one line, pointing at the command's help. */
function output(io: CliIo, name: string) {
  return {
    writeOut: (text: string) => io.stdout.write(text),
    writeErr: (text: string) => io.stderr.write(text),
    outputError: (text: string, write: (text: string) => void) => {
      const message = text
        .trim()
        .replace(/^error:\s*/, "")
        .replace(/\s*\n\s*/g, " ");
      write(`oncely: ${message} (see ${name} --help)\n`);
    },
  };
}
