import { execFile } from "node:child_process";
import { bundledScript } from "../support/bundled-script.js";

// Runs the real `oncely` bin (src/cli/index.ts, compiled once per test file: test/support/bundled-script.ts) as a
// child process, as a user's shell would. An absolute path, so the child can run in any working directory (the
// default store is ./oncely.db).
export const cliScript = () => bundledScript(new URL("../../src/cli/index.ts", import.meta.url), "oncely-cli");

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  /** Extra `--import` modules loaded before the CLI (a resolve hook that hides a package). */
  imports?: string[];
}

/**
 * Children running at once. Each spends most of its ~0.3 s of CPU starting up (commander, the driver); the machine
 * has 2 cores, so more at once only makes each slower.
 */
const MAX_RUNNING = 3;
let running = 0;
const waiting: (() => void)[] = [];

/** Runs `oncely ...args` and resolves with its exit code and output; never rejects on a non-zero exit. */
export async function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  if (running >= MAX_RUNNING) await new Promise<void>((resolve) => waiting.push(resolve));
  running++;
  try {
    return await spawnCli(args, options);
  } finally {
    running--;
    waiting.shift()?.();
  }
}

async function spawnCli(args: readonly string[], options: CliOptions): Promise<CliResult> {
  const script = await cliScript();
  const env: Record<string, string | undefined> = { ...process.env, ...options.env };
  // The user's environment must not pick the store or turn on stacks for these runs.
  for (const name of ["ONCELY_STORE", "ONCELY_DEBUG"]) if (!(name in (options.env ?? {}))) delete env[name];
  const imports = (options.imports ?? []).flatMap((module) => ["--import", module]);
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [...imports, script, ...args],
      { cwd: options.cwd, env, timeout: 60_000 },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== "number") reject(error);
        else resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
      },
    );
  });
}

/** The JSON Lines a `list --json` printed. */
export function jsonLines(stdout: string): Record<string, unknown>[] {
  return stdout
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}
