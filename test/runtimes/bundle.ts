import { existsSync } from "node:fs";
import { dirname, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build, type Plugin } from "esbuild";

const root = fileURLToPath(new URL("../..", import.meta.url));
const src = resolve(root, "src");
const dist = resolve(root, "dist");
const outRoot = resolve(root, ".scratch/runtimes");

/**
 * Bundles a runtime entry (test/runtimes/entries/) into .scratch/runtimes/<name>.js, with every import of oncely's
 * sources pointed at the built package in dist/, as a user's app loads it:
 * - `"imports"` (Bun, Deno): dist's modules stay separate files the runtime loads itself; packages (hono) stay
 *   imports too, resolved from node_modules by the runtime.
 * - `"inline"` (workerd): one self-contained module with dist's code inside, as wrangler bundles a Worker.
 * Needs `npm run build` first.
 */
export async function bundleEntry(entry: string, name: string, dependencies: "imports" | "inline"): Promise<string> {
  if (!existsSync(resolve(dist, "index.js"))) throw new Error("dist/ is missing: run `npm run build` first");
  const outfile = resolve(outRoot, `${name}.js`);
  const toDist: Plugin = {
    name: "oncely-from-dist",
    setup(plugin) {
      plugin.onResolve({ filter: /^\.\.?\// }, (args) => {
        const target = resolve(args.resolveDir, args.path);
        if (!target.startsWith(`${src}/`)) return undefined;
        const built = resolve(dist, relative(src, target)).replace(/\.ts$/, ".js");
        if (dependencies === "inline") return { path: built };
        return { path: `./${relative(dirname(outfile), built)}`, external: true };
      });
    },
  };
  await build({
    entryPoints: [resolve(root, entry)],
    outfile,
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2023",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["module", "main"],
    packages: dependencies === "imports" ? "external" : undefined,
    // workerd's own modules, as wrangler leaves them.
    external: ["cloudflare:*"],
    plugins: [toDist],
    logLevel: "error",
  });
  return outfile;
}
