import { hash, randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import type { Store } from "../../src/core/store.js";
import { RedisStore } from "../../src/stores/redis/index.js";
import { SqliteStore } from "../../src/stores/sqlite/index.js";
import { serviceAvailable, services } from "../support/services.js";
import { countingUpstream, listen, until } from "./proxy/harness.js";
import { spawnProxy } from "./proxy/spawn-proxy.js";
import { runCli } from "./run-cli.js";

// `oncely proxy` as a child process in front of a counting upstream, on a SQLite file and on Redis: decisions,
// the config file, scope from a header (stored only hashed), the JSON-lines log, health, and SIGTERM releasing the
// claim of a request it stopped waiting for. Then the usage errors, each one line with its exit code.

const dir = mkdtempSync(join(tmpdir(), "oncely-proxy-cli-"));
const redisBase = `oncely-proxy-cli-test:${randomUUID().slice(0, 8)}:`;
const redisUp = await serviceAvailable("redis");

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  if (!redisUp) return;
  const client = new Redis(services.redis.url);
  const keys = await client.keys(`${redisBase}*`);
  if (keys.length > 0) await client.unlink(...keys);
  await client.quit();
});

const backends = [
  {
    name: "sqlite",
    available: true,
    create: () => {
      const path = join(dir, "proxy.db");
      return { url: `sqlite:${path}`, open: (): Store => new SqliteStore({ path }), file: path };
    },
  },
  {
    name: "redis",
    available: redisUp,
    create: () => ({
      url: `${services.redis.url}?prefix=${encodeURIComponent(redisBase)}`,
      open: (): Store => new RedisStore({ url: services.redis.url, prefix: redisBase }),
      file: undefined,
    }),
  },
];

const keyHash = (key: string) => hash("sha256", key, "hex").slice(0, 16);
const SECRET_SCOPE = "acct_secret_4242";

for (const backend of backends) {
  describe.skipIf(!backend.available)(`oncely proxy on ${backend.name}`, { timeout: 60_000 }, () => {
    it("guards the configured routes, logs one line per decision, and releases what it cannot finish on SIGTERM", async () => {
      const upstream = await countingUpstream();
      const { url: storeUrl, open, file } = backend.create();
      const config = join(dir, `${backend.name}.json`);
      writeFileSync(config, JSON.stringify({ routes: [{ route: "POST /orders", required: true, ttl: "1h" }] }));
      const proxy = await spawnProxy([
        "--upstream",
        upstream.url,
        "--port",
        "0",
        "--store",
        storeUrl,
        "--config",
        config,
        "--route",
        "POST /charges/*",
        "--scope-header",
        "x-account",
        "--drain-timeout",
        "300ms",
      ]);
      let exit: number | null = null;
      try {
        const post = (path: string, key: string | undefined, body = '{"amount":1}', account = SECRET_SCOPE) =>
          fetch(`${proxy.url}${path}`, {
            method: "POST",
            headers: {
              "content-type": "application/json",
              "x-account": account,
              ...(key ? { "idempotency-key": key } : {}),
            },
            body,
          });
        const first = await post("/charges/a", "cli-1");
        expect(first.status).toBe(201);
        const replay = await post("/charges/a", "cli-1");
        expect(replay.headers.get("idempotent-replayed")).toBe("true");
        expect(await replay.text()).toBe(await first.text());
        expect((await post("/charges/a", "cli-1", '{"amount":2}')).status).toBe(422);
        expect((await post("/charges/a", "cli-1", '{"amount":1}', "acct_other")).status).toBe(201);
        expect(upstream.runs.get("/charges/a")).toBe(2);
        const missing = await post("/orders", undefined);
        expect(missing.status).toBe(400);
        expect(((await missing.json()) as { type: string }).type).toBe("urn:oncely:problem:missing-key");
        expect((await fetch(`${proxy.url}/orders`)).status).toBe(201);
        const health = await fetch(`${proxy.url}/.oncely/health`);
        expect(health.status).toBe(200);
        expect(await health.json()).toEqual({ status: "ok" });

        upstream.next("/charges/slow", "hang");
        const cut = post("/charges/slow", "cli-slow");
        await until(() => upstream.runs.get("/charges/slow") === 1, 10_000);
        exit = await proxy.stop("SIGTERM");
        const cutResponse = await cut;
        expect(cutResponse.status).toBe(503);
        expect(((await cutResponse.json()) as { type: string }).type).toBe("urn:oncely:problem:shutting-down");
      } finally {
        if (exit === null) exit = await proxy.stop("SIGKILL");
        upstream.releaseHanging();
        await upstream.close();
      }
      expect(exit).toBe(0);

      const decisions = proxy
        .lines()
        .filter((line) => line.oncely)
        .map((line) => line.oncely as Record<string, unknown>);
      expect(decisions.map((d) => [d.decision, d.route, d.status])).toEqual([
        ["executed", "POST /charges/*", 201],
        ["replayed", "POST /charges/*", 201],
        ["mismatch", "POST /charges/*", 422],
        ["executed", "POST /charges/*", 201],
        ["invalid", "POST /orders", 400],
        ["released", "POST /charges/*", undefined],
      ]);
      expect(decisions[0]!.key_hash).toBe(keyHash("cli-1"));
      expect(decisions.at(-1)!.key_hash).toBe(keyHash("cli-slow"));
      expect(decisions[0]!.scope_hash).not.toBe(decisions[3]!.scope_hash);
      const messages = proxy.lines().map((line) => line.msg);
      expect(messages).toContain("oncely proxy draining");
      expect(messages.at(-1)).toBe("oncely proxy stopped");
      expect(proxy.lines().at(-1)).toMatchObject({ proxy: { finished: 0, abandoned: 1 } });
      // Neither keys nor the scope header's value appear in clear, in the log or in the store.
      expect(proxy.stdout()).not.toContain('"cli-1"');
      expect(proxy.stdout()).not.toContain(SECRET_SCOPE);

      const store = open();
      try {
        const { records } = await store.list({ limit: 100 });
        const slow = records.find((record) => record.meta.key === "cli-slow");
        expect(slow?.state).toBe("released");
        expect(records.find((record) => record.meta.path === "/charges/a")?.meta).toMatchObject({ method: "POST" });
        expect(JSON.stringify(records)).not.toContain(SECRET_SCOPE);
        if (file) expect(readFileSync(file).includes(SECRET_SCOPE)).toBe(false);
      } finally {
        await store.close();
      }
    });
  });
}

describe("oncely proxy: a second signal", { timeout: 60_000 }, () => {
  it("stops waiting for the drain: what still runs is released at once, and the proxy exits 0", async () => {
    const upstream = await countingUpstream();
    const proxy = await spawnProxy([
      "--upstream",
      upstream.url,
      "--port",
      "0",
      "--store",
      `sqlite:${join(dir, "second-signal.db")}`,
      "--route",
      "POST /charges",
      "--drain-timeout",
      "60s",
    ]);
    try {
      upstream.next("/charges", "hang");
      const cut = fetch(`${proxy.url}/charges`, {
        method: "POST",
        headers: { "idempotency-key": "twice" },
        body: "{}",
      });
      await until(() => upstream.runs.get("/charges") === 1, 10_000);
      proxy.child.kill("SIGTERM");
      await until(() => proxy.stdout().includes("oncely proxy draining"), 10_000);
      const started = Date.now();
      expect(await proxy.stop("SIGTERM")).toBe(0);
      expect(Date.now() - started).toBeLessThan(10_000);
      expect((await cut).status).toBe(503);
      expect(proxy.lines().at(-1)).toMatchObject({ msg: "oncely proxy stopped", proxy: { abandoned: 1 } });
    } finally {
      if (proxy.child.exitCode === null) proxy.child.kill("SIGKILL");
      upstream.releaseHanging();
      await upstream.close();
    }
  });
});

describe("oncely proxy: usage", { timeout: 60_000 }, () => {
  const store = `sqlite:${join(dir, "usage.db")}`;
  const upstream = ["--upstream", "http://127.0.0.1:9"];

  it.concurrent("refuses to start without routes, with exit code 1 and one line", async () => {
    const result = await runCli(["proxy", ...upstream, "--store", store]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'oncely: no routes to guard: pass --route "POST /charges" (repeatable) or --config FILE\n',
    );
  });

  it.concurrent("names the config file, route and field of a bad config", async () => {
    const config = join(dir, "bad.json");
    writeFileSync(config, JSON.stringify({ routes: [{ route: "POST /x", ttl: "later" }] }));
    const result = await runCli(["proxy", ...upstream, "--store", store, "--config", config]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `oncely: config ${config}: routes[0].ttl: expected a duration such as "24h", "30s" or milliseconds, got "later"\n`,
    );
  });

  it.concurrent("refuses an upstream that is not an http(s) URL, and a bad --route", async () => {
    const [ftp, route] = await Promise.all([
      runCli(["proxy", "--upstream", "ftp://x", "--route", "POST /x", "--store", store]),
      runCli(["proxy", ...upstream, "--route", "/x", "--store", store]),
    ]);
    expect(ftp.code).toBe(1);
    expect(ftp.stderr).toBe('oncely: --upstream: expected an http:// or https:// URL without a query, got "ftp://x"\n');
    expect(route.code).toBe(1);
    expect(route.stderr).toContain('oncely: --route: route "/x": expected "METHOD /path"');
  });

  it.concurrent("exits 3 when the store cannot be reached at startup", async () => {
    const result = await runCli([
      "proxy",
      ...upstream,
      "--route",
      "POST /x",
      "--store",
      "redis://127.0.0.1:1?timeout=300",
    ]);
    expect(result.code).toBe(3);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
    expect(result.stderr).toContain("redis");
  });

  it.concurrent("exits 1 when the port is taken", async () => {
    const taken = await listen(() => {});
    try {
      const result = await runCli([
        "proxy",
        ...upstream,
        "--route",
        "POST /x",
        "--store",
        store,
        "--port",
        String(taken.port),
      ]);
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(`oncely: cannot listen on 127.0.0.1:${taken.port}: EADDRINUSE\n`);
    } finally {
      await taken.close();
    }
  });

  it.concurrent("documents itself in --help", async () => {
    const result = await runCli(["proxy", "--help"]);
    expect(result.code).toBe(0);
    for (const text of [
      "--upstream <url>",
      "--route <rule>",
      "Config file",
      "--drain-timeout",
      "Exit codes:",
      "--credential-header",
      "--no-credential-scope",
    ]) {
      expect(result.stdout).toContain(text);
    }
  });
});
