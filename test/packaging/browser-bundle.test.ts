import { builtinModules } from "node:module";
import { fileURLToPath } from "node:url";
import { build, type Plugin } from "esbuild";
import { describe, expect, it } from "vitest";
import { exportTarget } from "../support/package-exports.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const builtins = new Set(builtinModules);

/**
 * Resolves `oncely/...` the way a user's bundler does (through package.json `exports`), but to the source file the
 * export is built from, so the test needs no fresh `dist` and cannot race a concurrent build.
 */
const oncelyFromSource: Plugin = {
  name: "oncely-from-source",
  setup(build) {
    build.onResolve({ filter: /^oncely(\/.*)?$/ }, ({ path }) => {
      const target = exportTarget(path.slice("oncely".length));
      if (target === undefined) return { errors: [{ text: `no export for ${path}` }] };
      return { path: `${root}${target.default.replace(/^\.\/dist\//, "src/").replace(/\.js$/, ".ts")}` };
    });
  },
};

/** A browser bundler has no Node built-ins: record each import of one (and who imports it) instead of failing. */
function recordBuiltins(found: string[]): Plugin {
  return {
    name: "record-node-builtins",
    setup(build) {
      build.onResolve({ filter: /.*/ }, ({ path, importer }) => {
        if (!path.startsWith("node:") && !builtins.has(path.split("/")[0]!)) return undefined;
        found.push(`${importer.startsWith(root) ? importer.slice(root.length) : importer} -> ${path}`);
        return { path, external: true };
      });
    },
  };
}

/** Bundles `code` as a browser or edge app would (platform "browser", minified so comments cannot match). */
async function bundleForBrowser(code: string) {
  const found: string[] = [];
  const result = await build({
    stdin: { contents: code, resolveDir: root, loader: "ts" },
    bundle: true,
    platform: "browser",
    format: "esm",
    target: "es2022",
    minify: true,
    write: false,
    logLevel: "silent",
    // The apps' own dependencies: what is checked is oncely's code (@upstash/redis runs on workerd in test:runtimes).
    external: ["axios", "ky", "@upstash/redis"],
    plugins: [oncelyFromSource, recordBuiltins(found)],
  });
  const text = result.outputFiles[0]!.text;
  // Node globals a browser lacks: a bundler does not complain about them, the page fails when it reaches them. Only
  // bare names count: a property access (`globalThis.process?.x`) is undefined there, never a ReferenceError.
  const globals = ["Buffer", "process", "require", "__dirname"].filter((name) =>
    new RegExp(`(?<![.\\w$])${name}\\b`).test(text),
  );
  return { builtins: found.sort(), globals };
}

describe("browser and edge bundles", () => {
  for (const subpath of [
    "oncely/client",
    "oncely/client/axios",
    "oncely/client/ky",
    "oncely/fetch",
    "oncely/openapi",
    "oncely/stores/upstash",
  ]) {
    it(`${subpath} bundles for the browser without any Node built-in or Node global`, async () => {
      const bundle = await bundleForBrowser(`export * from "${subpath}";`);
      expect(bundle).toEqual({ builtins: [], globals: [] });
    });
  }

  // oncely/fetch itself only imports types from the engine, but every app that uses it also imports `oncely` for
  // createIdempotency and a store: that engine must bundle for browsers and edge runtimes too. Where Node's modules
  // exist it reaches them through `globalThis.process?.getBuiltinModule`, which a bundle may mention safely.
  it("an edge app (oncely + oncely/fetch + MemoryStore) bundles without any Node built-in or Node global", async () => {
    const bundle = await bundleForBrowser(`
      import { createIdempotency, MemoryStore } from "oncely";
      import { withIdempotency } from "oncely/fetch";
      const idem = createIdempotency({ store: new MemoryStore() });
      export default withIdempotency(idem, async () => new Response("ok"));`);
    expect(bundle).toEqual({ builtins: [], globals: [] });
  });

  it("the check can fail: a Node built-in and a Node global are both caught", async () => {
    const bundle = await bundleForBrowser(`
      import { createHash } from "node:crypto";
      export const digest = () => createHash("sha256").update(Buffer.from("x")).digest("hex");`);
    expect(bundle).toEqual({ builtins: ["<stdin> -> node:crypto"], globals: ["Buffer"] });
  });
});
