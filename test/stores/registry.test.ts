import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseStoreUrl } from "../../src/cli/store-url.js";
import { StoreError } from "../../src/core/errors.js";
import { STORES, storeForScheme } from "../../src/stores/registry.js";
import { loadDriver, StoreDriverMissingError } from "../../src/stores/shared/optional-driver.js";
import { runCli } from "../cli/run-cli.js";
import { sharedBackends } from "../multiprocess/backends.js";
import { backends as modelBackends } from "../reliability/store-model/backends.js";
import { exportTarget } from "../support/package-exports.js";

// The registry is what the CLI, the tests' backend lists and the benchmarks read; these cases hold it to that.

describe("the store registry", () => {
  it("names each store once, and each scheme once", () => {
    const names = STORES.map((entry) => entry.name);
    expect(new Set(names).size).toBe(names.length);
    const schemes = STORES.flatMap((entry) => entry.schemes);
    expect(new Set(schemes).size).toBe(schemes.length);
    for (const scheme of schemes) expect(scheme).toBe(scheme.toLowerCase());
  });

  it("finds a store by its scheme in any case", () => {
    for (const entry of STORES) {
      for (const scheme of entry.schemes) {
        expect(storeForScheme(scheme.toUpperCase())).toBe(entry);
        expect(
          parseStoreUrl(entry.help[0].replace(/^[a-z]+/, scheme.toUpperCase()), { AWS_REGION: "eu-west-1" }).kind,
        ).toBe(entry.name);
      }
    }
    expect(storeForScheme("mongodb")).toBeUndefined();
  });

  it("builds every store from its own help line's URL, without connecting", async () => {
    for (const entry of STORES) {
      const options = entry.parse(entry.help[0].replace("./oncely.db", ":memory:"), { AWS_REGION: "eu-west-1" });
      const store = await entry.create(options);
      expect(store.name).toBe(entry.name);
      await store.close();
    }
  });

  it("lists every store in the CLI's help", async () => {
    const { stdout } = await runCli(["--help"]);
    for (const entry of STORES) expect(stdout).toContain(entry.help[0]);
  });
});

describe("every shared test backend list covers every store", () => {
  it("the multi-process test: each store that processes can share", () => {
    const covered = new Set(sharedBackends().map((backend) => backend.store));
    expect([...covered].sort()).toEqual(
      STORES.filter((entry) => entry.shared)
        .map((entry) => entry.name)
        .sort(),
    );
  });

  it("the store-model test: each store", () => {
    const covered = new Set(modelBackends.map((backend) => backend.store));
    expect([...covered].sort()).toEqual(STORES.map((entry) => entry.name).sort());
  });
});

describe("every store is wired into the package", () => {
  // What CONTRIBUTING's "Adding a store" asks outside the store's folder and the registry, checked per entry, so a
  // new store cannot ship without its entry point, its optional driver, its API page, its docs page or its tests.
  // The memory store is the root export's; it has no entry point of its own.
  const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), "utf8");
  const manifest = JSON.parse(read("package.json"));
  const typedoc = JSON.parse(read("typedoc.json"));
  const storesPage = read("docs/stores.md");
  // typedoc.json's globs, as TypeDoc reads them: `*` within one path segment, `**` across them.
  const glob = (pattern: string) =>
    new RegExp(
      `^${pattern.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*\*?/g, (star) => (star === "**" ? ".*" : "[^/]*"))}$`,
    );
  const documented = (source: string) =>
    typedoc.entryPoints.some((pattern: string) => glob(pattern).test(source)) &&
    !(typedoc.exclude ?? []).some((pattern: string) => glob(pattern).test(source));
  const wiring = STORES.map((entry) => {
    const missing: string[] = [];
    const source = `src/stores/${entry.name}/index.ts`;
    if (entry.name !== "memory") {
      // `./stores/*` exports each store's folder: this fails only if `exports` is changed to leave one out.
      if (exportTarget(`/stores/${entry.name}`)?.default !== `./dist/stores/${entry.name}/index.js`) {
        missing.push("package.json export");
      }
      if (!documented(source)) missing.push("typedoc.json entry point");
      // TypeDoc names a module by the comment that opens its file, before any import; elsewhere it is ignored.
      if (
        !read(source).startsWith(`/**`) ||
        !read(source).split("*/")[0]!.includes(`@module oncely/stores/${entry.name}`)
      ) {
        missing.push("@module comment opening the file");
      }
    }
    if (entry.driver) {
      const name = entry.driver.package;
      if (!manifest.peerDependencies[name] || !manifest.peerDependenciesMeta[name]?.optional) {
        missing.push(`${name} as an optional peer dependency`);
      }
      if (!manifest.devDependencies[name]) missing.push(`${name} as a devDependency`);
    }
    if (!existsSync(new URL(`../../docs/stores/${entry.name}.md`, import.meta.url))) missing.push("docs page");
    if (!storesPage.includes(`stores/${entry.name}.md`)) missing.push("link from docs/stores.md");
    if (!existsSync(new URL(`./${entry.name}.test.ts`, import.meta.url))) missing.push("test file");
    return { store: entry.name, missing };
  });
  it.each(wiring)("$store", ({ missing }) => {
    expect(missing).toEqual([]);
  });

  it("exports no folder of src/stores that is not a store", () => {
    // The memory store is imported from `oncely`; `shared` holds the stores' helpers.
    expect(exportTarget("/stores/memory")).toBeUndefined();
    expect(exportTarget("/stores/shared")).toBeUndefined();
    expect(documented("src/stores/memory/index.ts")).toBe(false);
  });
});

describe("a missing driver", () => {
  it("is one StoreError subclass, with the package to install", async () => {
    const missing = Object.assign(new Error("Cannot find package 'nope'"), { code: "ERR_MODULE_NOT_FOUND" });
    const error = await loadDriver("redis", "RedisStore", "ioredis", () => Promise.reject(missing)).catch((e) => e);
    expect(error).toBeInstanceOf(StoreDriverMissingError);
    expect(error).toBeInstanceOf(StoreError);
    expect(error).toMatchObject({ packageName: "ioredis", store: "redis", status: 503, cause: missing });
    expect(error.message).toBe('[oncely] [redis] RedisStore needs the "ioredis" package: npm install ioredis');
  });

  it("keeps the error of a package that is present but fails to load", async () => {
    const broken = Object.assign(new Error("was compiled against a different Node.js version"), {
      code: "ERR_DLOPEN_FAILED",
    });
    await expect(loadDriver("sqlite", "SqliteStore", "better-sqlite3", () => Promise.reject(broken))).rejects.toBe(
      broken,
    );
  });
});
