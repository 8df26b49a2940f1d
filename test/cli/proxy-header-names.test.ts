import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { countingUpstream, rawRequest } from "./proxy/harness.js";
import { spawnProxy } from "./proxy/spawn-proxy.js";
import { runCli } from "./run-cli.js";

// Header names a user gives `oncely proxy` are matched case-insensitively, as HTTP matches them: written as people
// write them (`X-Account-Id`), on the command line and in the config file, they must still scope and fingerprint.
// Node.js hands the proxy lower-case names, so a name kept as written matched nothing and every tenant shared one
// key space.

const dir = mkdtempSync(join(tmpdir(), "oncely-proxy-names-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("oncely proxy: header names as people write them", { timeout: 60_000 }, () => {
  it("scopes by --scope-header X-Account-Id and by the config's scopeHeader and fingerprintHeaders in any case", async () => {
    const upstream = await countingUpstream();
    const config = join(dir, "names.json");
    writeFileSync(
      config,
      JSON.stringify({
        routes: [{ route: "POST /transfers", scopeHeader: "X-TENANT", fingerprintHeaders: ["Stripe-Account"] }],
      }),
    );
    const proxy = await spawnProxy([
      "--upstream",
      upstream.url,
      "--port",
      "0",
      "--store",
      "memory:",
      "--route",
      "POST /charges",
      "--config",
      config,
      "--scope-header",
      "X-Account-Id",
    ]);
    try {
      const post = (path: string, key: string, headers: Record<string, string>) =>
        rawRequest(`${proxy.url}${path}`, {
          method: "POST",
          headers: { "content-type": "application/json", "Idempotency-Key": key, ...headers },
          body: "{}",
        });

      const a = await post("/charges", "shared-key", { "X-Account-Id": "acct_A" });
      const b = await post("/charges", "shared-key", { "x-account-id": "acct_B" });
      expect(a.status).toBe(201);
      expect(b.status).toBe(201);
      expect(b.headers["idempotent-replayed"]).toBeUndefined();
      expect(upstream.runs.get("/charges")).toBe(2);
      expect((await post("/charges", "shared-key", { "X-ACCOUNT-ID": "acct_A" })).headers["idempotent-replayed"]).toBe(
        "true",
      );

      const t1 = await post("/transfers", "t-key", { "x-tenant": "t1", "Stripe-Account": "acct_1" });
      const t2 = await post("/transfers", "t-key", { "X-Tenant": "t2", "Stripe-Account": "acct_1" });
      expect([t1.status, t2.status]).toEqual([201, 201]);
      expect(t2.headers["idempotent-replayed"]).toBeUndefined();
      // The same tenant and key with another Stripe-Account is another request: 422, not a replay.
      expect((await post("/transfers", "t-key", { "x-tenant": "t1", "stripe-account": "acct_2" })).status).toBe(422);
      expect(upstream.runs.get("/transfers")).toBe(2);
    } finally {
      await proxy.stop("SIGTERM");
      await upstream.close();
    }
  });

  it("scopes by --credential-header X-Api-Key and cookie:sid instead of Authorization", async () => {
    const upstream = await countingUpstream();
    const proxy = await spawnProxy([
      ...["--upstream", upstream.url, "--port", "0", "--store", "memory:", "--route", "POST /charges"],
      ...["--credential-header", "X-Api-Key", "--credential-header", "cookie:sid"],
    ]);
    try {
      const post = (headers: Record<string, string>) =>
        rawRequest(`${proxy.url}/charges`, {
          method: "POST",
          headers: { "Idempotency-Key": "cred-key", ...headers },
          body: "{}",
        });
      await post({ "X-Api-Key": "key_A", Cookie: "sid=s1; theme=dark" });
      expect((await post({ "x-api-key": "key_B", cookie: "sid=s1" })).headers["idempotent-replayed"]).toBeUndefined();
      expect((await post({ "x-api-key": "key_A", cookie: "sid=s2" })).headers["idempotent-replayed"]).toBeUndefined();
      expect((await post({ "X-API-KEY": "key_A", cookie: "theme=light; sid=s1" })).headers).toMatchObject({
        "idempotent-replayed": "true",
      });
      // Authorization is no longer part of the scope once other credentials are named.
      const withBearer = await post({ "x-api-key": "key_A", cookie: "sid=s1", authorization: "Bearer other" });
      expect(withBearer.headers["idempotent-replayed"]).toBe("true");
      expect(upstream.runs.get("/charges")).toBe(3);
    } finally {
      await proxy.stop("SIGTERM");
      await upstream.close();
    }
  });

  it("refuses --credential-header with --no-credential-scope, in one line", async () => {
    const result = await runCli([
      ...["proxy", "--upstream", "http://127.0.0.1:9", "--store", "memory:", "--route", "POST /x"],
      ...["--credential-header", "cookie:sid", "--no-credential-scope"],
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      "oncely: --credential-header and --no-credential-scope contradict each other: pass one\n",
    );
  });

  it("refuses a --scope-header that is not a header name, in one line", async () => {
    const result = await runCli([
      "proxy",
      "--upstream",
      "http://127.0.0.1:9",
      "--store",
      "memory:",
      "--route",
      "POST /x",
      "--scope-header",
      "X Account",
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("--scope-header");
    expect(result.stderr).toContain("'X Account' is invalid");
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
  });
});
