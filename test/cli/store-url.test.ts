import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openStore } from "../../src/cli/open-store.js";
import {
  DEFAULT_STORE_URL,
  parseStoreUrl,
  redactStoreUrl,
  type StoreSpec,
  StoreUrlError,
} from "../../src/cli/store-url.js";
import { isOncelyError, StoreError } from "../../src/core/errors.js";

const noEnv = {};
const parse = (url: string, env: Record<string, string | undefined> = noEnv) => parseStoreUrl(url, env);

/** The error a URL is refused with; fails the test when it parses. */
function refusal(url: string, env: Record<string, string | undefined> = noEnv): StoreUrlError {
  try {
    parseStoreUrl(url, env);
  } catch (error) {
    expect(error).toBeInstanceOf(StoreUrlError);
    return error as StoreUrlError;
  }
  throw new Error(`${url} parsed`);
}

describe("parseStoreUrl", () => {
  it("reads memory:", () => {
    expect(parse("memory:")).toEqual({ kind: "memory", options: {} });
    expect(parse("memory://")).toEqual({ kind: "memory", options: {} });
  });

  it("reads sqlite: file names, relative, absolute and in memory, with table and timeout", () => {
    expect(parse(DEFAULT_STORE_URL)).toEqual({ kind: "sqlite", options: { path: "./oncely.db" } });
    expect(parse("sqlite:/var/lib/oncely.db")).toEqual({ kind: "sqlite", options: { path: "/var/lib/oncely.db" } });
    expect(parse("sqlite:///var/lib/oncely.db")).toEqual({ kind: "sqlite", options: { path: "/var/lib/oncely.db" } });
    expect(parse("sqlite://./data/o.db")).toEqual({ kind: "sqlite", options: { path: "./data/o.db" } });
    expect(parse("sqlite::memory:")).toEqual({ kind: "sqlite", options: { path: ":memory:" } });
    expect(parse("sqlite:./my%20file.db?table=idem&timeout=2s")).toEqual({
      kind: "sqlite",
      options: { path: "./my file.db", table: "idem", timeout: 2000 },
    });
  });

  it("reads redis:// and rediss://, taking prefix and timeout out and leaving the driver's own parameters", () => {
    expect(parse("redis://127.0.0.1:6379")).toEqual({ kind: "redis", options: { url: "redis://127.0.0.1:6379" } });
    expect(parse("redis://:pw@cache.internal:6380/2?prefix=oncely:&timeout=500&family=6")).toEqual({
      kind: "redis",
      options: { url: "redis://:pw@cache.internal:6380/2?family=6", prefix: "oncely:", timeout: 500 },
    });
    expect(parse("rediss://cache.example.com")).toEqual({
      kind: "redis",
      options: { url: "rediss://cache.example.com" },
    });
  });

  it("reads postgres:// and postgresql:// with table, keeping sslmode for pg", () => {
    expect(parse("postgres://user@db.internal/app?table=oncely_records")).toEqual({
      kind: "postgres",
      options: { connectionString: "postgres://user@db.internal/app", table: "oncely_records" },
    });
    expect(parse("postgresql://u:p@h:5433/app?sslmode=require&table=ops.idem")).toEqual({
      kind: "postgres",
      options: { connectionString: "postgresql://u:p@h:5433/app?sslmode=require", table: "ops.idem" },
    });
  });

  it("reads mysql:// with table and dialect", () => {
    expect(parse("mysql://root@127.0.0.1:3306/test?table=idem&dialect=mariadb&timeout=3s")).toEqual({
      kind: "mysql",
      options: { uri: "mysql://root@127.0.0.1:3306/test", table: "idem", dialect: "mariadb", timeout: 3000 },
    });
  });

  it("reads libsql://HOST with authToken and table, and libsql:<file> with table and timeout only", () => {
    expect(parse("libsql://db.example.turso.io?authToken=t0k3n&table=idem&tls=1")).toEqual({
      kind: "libsql",
      options: { url: "libsql://db.example.turso.io?tls=1", authToken: "t0k3n", table: "idem" },
    });
    expect(parse("LIBSQL:./oncely.db?table=idem&timeout=2s")).toEqual({
      kind: "libsql",
      options: { url: "file:./oncely.db", table: "idem", timeout: 2000 },
    });
    expect(() => parse("libsql:")).toThrow(StoreUrlError);
    expect(() => parse("libsql://")).toThrow(/no host|not a valid URL/);
    expect(() => parse("libsql:./oncely.db?authToken=x")).toThrow(/unknown parameter `authToken`/);
  });

  it("reads upstash://HOST (HTTPS) and upstash+http://HOST:PORT, the token from ?token= or the environment", () => {
    expect(parse("upstash://eu1-x.upstash.io?token=t0k3n&prefix=p:&timeout=3s")).toEqual({
      kind: "upstash",
      options: { url: "https://eu1-x.upstash.io", token: "t0k3n", prefix: "p:", timeout: 3000 },
    });
    expect(parse("UPSTASH+HTTP://127.0.0.1:8079", { UPSTASH_REDIS_REST_TOKEN: "from-env" })).toEqual({
      kind: "upstash",
      options: { url: "http://127.0.0.1:8079", token: "from-env" },
    });
    expect(() => parse("upstash://eu1-x.upstash.io", {})).toThrow(/no token/);
    expect(() => parse("upstash://eu1-x.upstash.io?token=t&tls=1")).toThrow(/unknown parameter `tls`/);
    expect(() => parse("upstash://eu1-x.upstash.io?token=t&prefix=")).toThrow(/`prefix` is empty/);
  });

  it("reads dynamodb://TABLE with region and endpoint, keeping the table's case", () => {
    expect(parse("dynamodb://Oncely.Records-1?region=eu-west-1&endpoint=http://127.0.0.1:4567")).toEqual({
      kind: "dynamodb",
      options: { table: "Oncely.Records-1", region: "eu-west-1", endpoint: "http://127.0.0.1:4567" },
    });
    // No table: the store's default. No region: the SDK's environment variable.
    expect(parse("dynamodb://", { AWS_REGION: "us-east-2" })).toEqual({
      kind: "dynamodb",
      options: { region: "us-east-2" },
    });
  });

  it("refuses unknown schemes and text that is not a URL, naming what it takes", () => {
    for (const url of ["", "  ", "./oncely.db", "mongodb://host/db", "file:./oncely.db", "Redis"]) {
      const error = refusal(url);
      expect(error.message).toMatch(/^invalid store URL ".*": (unknown scheme "[a-z]+:"; )?expected memory:, sqlite:/);
    }
  });

  it("refuses a URL with a missing or malformed part", () => {
    const cases: [string, RegExp][] = [
      ["sqlite:", /expected a file name/],
      ["sqlite:?table=x", /expected a file name/],
      ["sqlite:./a%zz.db", /malformed %-escape/],
      ["memory:anything", /memory: takes nothing/],
      ["redis://", /no host|not a valid URL/],
      ["redis:localhost", /not a valid URL/],
      ["redis://h?prefix=", /`prefix` is empty/],
      ["postgres://", /no host|not a valid URL/],
      ["postgres://h/db?table=a&table=b", /`table` is given 2 times/],
      ["mysql://h/db?dialect=oracle", /`dialect` is "oracle"/],
      ["dynamodb://t", /no region: add \?region=/],
      ["dynamodb:t?region=x", /expected "dynamodb:\/\/TABLE/],
      ["dynamodb://t/extra?region=x", /with no path/],
      ["dynamodb://t?region=x&endpoint=nope", /`endpoint` is not a URL/],
      ["sqlite:./a.db?prefix=x", /unknown parameter `prefix`; this scheme takes `table`, `timeout`/],
      ["dynamodb://t?region=x&tabel=y", /unknown parameter `tabel`/],
      ["redis://h?timeout=soon", /`timeout` is "soon"; expected a duration/],
      ["sqlite:./a.db?timeout=0", /`timeout` is "0"/],
    ];
    for (const [url, reason] of cases) {
      const error = refusal(url);
      expect(error.message, url).toMatch(reason);
      expect(error.message, url).not.toContain("\n");
      expect(error.code).toBe("invalid_store_url");
      expect(isOncelyError(error)).toBe(true);
    }
  });

  it("never shows a password in an error", () => {
    const error = refusal("postgres://admin:hunter2@db/app?table=a&table=b");
    expect(error.message).not.toContain("hunter2");
    expect(error.message).toContain("postgres://admin:***@db/app");
    expect(error.url).toBe("postgres://admin:***@db/app?table=a&table=b");
  });
});

describe("redactStoreUrl", () => {
  it("replaces the password and leaves everything else as written", () => {
    expect(redactStoreUrl("redis://:s3cret@h:6379/0")).toBe("redis://:***@h:6379/0");
    // An "@" after the host could end a password holding "?" (mysql://root:12?x=a@b): nothing after the scheme shows.
    expect(redactStoreUrl("mysql://root:pw@127.0.0.1/test?x=a@b")).toBe("mysql://***");
    expect(redactStoreUrl("redis://h:6379")).toBe("redis://h:6379");
    expect(redactStoreUrl("postgres://user@h/db")).toBe("postgres://user@h/db");
    expect(redactStoreUrl("dynamodb://MyTable?region=x")).toBe("dynamodb://MyTable?region=x");
  });
});

describe("openStore", () => {
  const dir = mkdtempSync(join(tmpdir(), "oncely-store-url-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("creates each store from its spec, without connecting", async () => {
    const specs: [StoreSpec, string][] = [
      [parse("memory:"), "memory"],
      [parse(`sqlite:${join(dir, "a.db")}`), "sqlite"],
      [parse("redis://127.0.0.1:1"), "redis"],
      [parse("postgres://u@127.0.0.1:1/db"), "postgres"],
      [parse("mysql://u@127.0.0.1:1/db"), "mysql"],
      [parse("dynamodb://oncely_records?region=us-east-1&endpoint=http://127.0.0.1:1"), "dynamodb"],
    ];
    for (const [spec, name] of specs) {
      const store = await openStore(spec);
      expect(store.name).toBe(name);
      await store.close();
    }
  });

  it("reports an option the store refuses as a bad URL", async () => {
    const url = "sqlite:./x.db?table=no-dashes";
    await expect(openStore(parse(url), { url })).rejects.toThrow(
      /^invalid store URL "sqlite:.\/x.db\?table=no-dashes": Expected `table` to be letters/,
    );
    await expect(openStore(parse("redis://h?prefix={x}"))).rejects.toBeInstanceOf(StoreUrlError);
  });

  it("refuses a SQLite file that does not exist when asked not to create one", async () => {
    const path = join(dir, "missing.db");
    const error = await openStore(parse(`sqlite:${path}`), { create: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as Error).message).toBe(`[oncely] [sqlite] open failed: no database file at ${path}`);
    const created = await openStore(parse(`sqlite:${path}`));
    await created.list();
    await created.close();
    const reopened = await openStore(parse(`sqlite:${path}`), { create: false });
    expect((await reopened.list()).records).toEqual([]);
    await reopened.close();
  });
});
