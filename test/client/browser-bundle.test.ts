import { fileURLToPath } from "node:url";
import { type BuildOptions, build } from "esbuild";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../", import.meta.url));

/** Bundles an entry the way a browser app's bundler would: no Node built-ins available, no polyfills. */
function bundleForBrowser(entry: string, extra: BuildOptions = {}) {
  return build({
    entryPoints: [entry],
    absWorkingDir: root,
    bundle: true,
    platform: "browser",
    format: "esm",
    target: "es2022",
    write: false,
    metafile: true,
    logLevel: "silent",
    ...extra,
  });
}

describe("oncely/client runs in browsers and React Native", () => {
  for (const entry of ["src/client/index.ts", "src/client/axios.ts", "src/client/ky.ts"]) {
    it(`${entry} bundles for platform "browser" with no Node built-in`, async () => {
      const result = await bundleForBrowser(entry, { external: ["axios", "ky"] });
      expect(result.errors).toEqual([]);
      const inputs = Object.keys(result.metafile!.inputs);
      // Only the client itself, and the dependency-free engine files it shares (durations, byte arrays).
      for (const input of inputs) expect(input).toMatch(/^src\/client\/|^src\/core\/(duration|bytes)\.ts$/);
      const code = result.outputFiles![0]!.text;
      expect(code).not.toMatch(/["']node:/);
      expect(code).not.toMatch(/\brequire\(|\bBuffer\b|\bprocess\./);
    });
  }

  it("the check can fail: the node:http adapter, which uses node:stream, does not bundle for the browser", async () => {
    await expect(bundleForBrowser("src/adapters/node/index.ts")).rejects.toThrow(/node:/);
  });
});
