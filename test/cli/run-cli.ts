import { execFile } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

// Runs the real `oncely` bin (src/cli/index.ts through tsx) as a child process, as a user's shell would.

const entry = fileURLToPath(new URL("../../src/cli/index.ts", import.meta.url));
// Resolved from here, so the child can run in any working directory (the default store is ./oncely.db).
const tsx = createRequire(import.meta.url).resolve("tsx");

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
 * Children running at once. Each spends most of its ~0.7 s of CPU starting up (tsx, commander, the driver); the
 * machine has 2 cores, so more at once only makes each slower.
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

function spawnCli(args: readonly string[], options: CliOptions): Promise<CliResult> {
  const env: Record<string, string | undefined> = { ...process.env, ...options.env };
  // The user's environment must not pick the store or turn on stacks for these runs.
  for (const name of ["ONCELY_STORE", "ONCELY_DEBUG"]) if (!(name in (options.env ?? {}))) delete env[name];
  const imports = [tsx, ...(options.imports ?? [])].flatMap((module) => ["--import", module]);
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [...imports, entry, ...args],
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
