import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const root = fileURLToPath(new URL("../..", import.meta.url));

// What a user gets from `npm install oncely`: the packed tarball (built by `prepack`), installed into a project of
// its own, then loaded from CommonJS (require(esm), Node >= 20.19) and from ESM.
describe("the packed package, installed as a user installs it", () => {
  let project: string;
  beforeAll(async () => {
    project = await mkdtemp(join(tmpdir(), "oncely-consumer-"));
    const { stdout } = await run("npm", ["pack", "--silent", "--pack-destination", project], { cwd: root });
    const tarball = join(project, stdout.trim().split("\n").at(-1)!);
    await writeFile(join(project, "package.json"), JSON.stringify({ name: "consumer", private: true }));
    await run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "--ignore-scripts", tarball], {
      cwd: project,
    });
  }, 180_000);
  afterAll(() => rm(project, { recursive: true, force: true }));

  const node = async (args: string[]) => (await run(process.execPath, args, { cwd: project })).stdout.trim();
  const work = `
    const idem = createIdempotency({ store: new MemoryStore() });
    let runs = 0;
    const first = await idem.run("job-1", () => ({ n: ++runs }));
    const again = await idem.run("job-1", () => ({ n: ++runs }));
    console.log(JSON.stringify([first, again, typeof idempotency, typeof withIdempotency, typeof createClient]));`;
  const expected = JSON.stringify([{ n: 1 }, { n: 1 }, "function", "function", "function"]);

  it("works from CommonJS through require()", async () => {
    const script = `(async () => {
      const { createIdempotency, MemoryStore } = require("oncely");
      const { idempotency } = require("oncely/express");
      const { withIdempotency } = require("oncely/fetch");
      const { createClient } = require("oncely/client");
      ${work}
    })();`;
    expect(await node(["-e", script])).toBe(expected);
  });

  it("works from ESM through import", async () => {
    const script = `
      import { createIdempotency, MemoryStore } from "oncely";
      import { idempotency } from "oncely/express";
      import { withIdempotency } from "oncely/fetch";
      import { createClient } from "oncely/client";
      ${work}`;
    expect(await node(["--input-type=module", "-e", script])).toBe(expected);
  });

  it("exports each store as oncely/stores/<name>, and no other folder of dist/stores", async () => {
    // Each store's module, loaded by name without its driver: the drivers load on first use. The memory store is the
    // root export's, and `shared` holds the stores' helpers: both refused, as any path `exports` does not name.
    const stores = ["sqlite", "redis", "upstash", "postgres", "mysql", "libsql", "dynamodb", "durable-object"];
    const script = `
      const loaded = [];
      for (const name of ${JSON.stringify(stores)}) {
        const module = await import("oncely/stores/" + name);
        loaded.push(Object.keys(module).some((key) => key.endsWith("Store")));
      }
      const refused = [];
      for (const path of ["oncely/stores/memory", "oncely/stores/shared", "oncely/stores/registry"]) {
        refused.push(await import(path).then(() => "loaded", (error) => error.code));
      }
      console.log(JSON.stringify([loaded, refused]));`;
    expect(JSON.parse(await node(["--input-type=module", "-e", script]))).toEqual([
      stores.map(() => true),
      ["ERR_PACKAGE_PATH_NOT_EXPORTED", "ERR_PACKAGE_PATH_NOT_EXPORTED", "ERR_MODULE_NOT_FOUND"],
    ]);
  });

  it("ships the built code, types, README, security notes and license, and no tests or sources", async () => {
    const { stdout } = await run("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: root });
    const files = (JSON.parse(stdout) as [{ files: { path: string }[] }])[0].files.map((file) => file.path);
    expect(files).toEqual(
      expect.arrayContaining([
        "LICENSE",
        "README.md",
        "SECURITY.md",
        "package.json",
        "dist/index.js",
        "dist/index.d.ts",
      ]),
    );
    expect(files.filter((path) => !/^(dist\/|LICENSE$|README\.md$|SECURITY\.md$|package\.json$)/.test(path))).toEqual(
      [],
    );
    expect(files.filter((path) => /\.(test|spec)\.|\.map$|^dist\/.*\.ts$(?<!\.d\.ts$)/.test(path))).toEqual([]);
  });
});
