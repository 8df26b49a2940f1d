import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = fileURLToPath(new URL("../..", import.meta.url));
/**
 * Two levels below the project root, as src/cli/ and dist/cli/ are: the CLI reads its version from
 * `../../package.json`, relative to the module that runs. Packages left as imports resolve from the project's
 * node_modules. `.scratch/` is ignored by git.
 */
const dir = join(root, ".scratch", "bundles");
/** A bundle no run has written for this long is one whose sources changed since: removed when a new one is written. */
const STALE_MS = 24 * 60 * 60 * 1000;

const bundles = new Map<string, Promise<string>>();

/**
 * A TypeScript entry (`src/cli/index.ts`, a test's worker script) and the sources it imports, compiled into one ES
 * module that `node` runs as it is. A child process started through `--import tsx` spends about a second of CPU
 * compiling and resolving file by file before it does anything; one started on the bundle, about a third of that.
 * The code is the same: esbuild compiles it as tsx does (tsx uses esbuild), and packages stay imports, resolved by
 * Node.js at run time (so a resolve hook can still hide one).
 *
 * Named by its content, so the test files of one run share one bundle, and two files writing it at once write the
 * same bytes (each through a rename, so no process reads half a file). Built once per test file and `name`.
 */
export function bundledScript(entry: URL, name: string): Promise<string> {
  const key = `${name}:${entry.href}`;
  let bundle = bundles.get(key);
  if (!bundle) {
    bundle = writeBundle(fileURLToPath(entry), name);
    bundles.set(key, bundle);
  }
  return bundle;
}

async function writeBundle(entry: string, name: string): Promise<string> {
  const { outputFiles } = await build({
    entryPoints: [entry],
    outfile: join(dir, `${name}.mjs`),
    write: false,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    packages: "external",
    logLevel: "error",
  });
  const code = outputFiles[0]!.contents;
  const file = join(dir, `${name}-${createHash("sha256").update(code).digest("hex").slice(0, 16)}.mjs`);
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true });
    removeStale(name);
    const partial = `${file}.${process.pid}.partial`;
    writeFileSync(partial, code);
    renameSync(partial, file);
  }
  return file;
}

function removeStale(name: string): void {
  for (const other of readdirSync(dir)) {
    if (!other.startsWith(`${name}-`)) continue;
    const path = join(dir, other);
    const stat = statSync(path, { throwIfNoEntry: false });
    if (stat && Date.now() - stat.mtimeMs > STALE_MS) rmSync(path, { force: true });
  }
}
