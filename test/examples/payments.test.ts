import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPaymentsApp } from "../../examples/payments/app.js";
import { MemoryStore } from "../../src/index.js";
import type { RunningServer } from "../http/app-spec.js";
import { listen } from "../http/servers.js";

describe("example: payments demo (the README's curl lines)", () => {
  let server: RunningServer;
  let charges: unknown[];
  beforeAll(async () => {
    const demo = createPaymentsApp(new MemoryStore());
    charges = demo.charges;
    server = await listen(createServer(demo.app));
  });
  afterAll(() => server.close());

  const charge = (key: string | undefined, amount: number) =>
    fetch(`${server.url}/charges`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(key ? { "idempotency-key": key } : {}) },
      body: JSON.stringify({ amount }),
    });

  it("executes, replays, conflicts, mismatches and requires a key, charging once per key", async () => {
    const first = await charge("order-1", 1000);
    expect(first.status).toBe(201);
    const replay = await charge("order-1", 1000);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(await replay.json()).toEqual(await first.json());

    const running = charge("order-2", 500);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await charge("order-2", 500)).status).toBe(409);
    expect((await running).status).toBe(201);

    expect((await charge("order-1", 9999)).status).toBe(422);
    expect((await charge(undefined, 1)).status).toBe(400);
    expect(charges).toHaveLength(2);
  });

  it("a store that cannot be opened stops the demo at boot, with the cause, before it listens", async () => {
    const dir = mkdtempSync(join(tmpdir(), "oncely-demo-"));
    try {
      writeFileSync(join(dir, "a-file"), "");
      const server = fileURLToPath(new URL("../../examples/payments/server.ts", import.meta.url));
      const env = { ...process.env, PORT: "0", ONCELY_DEMO_DB: join(dir, "a-file", "demo.db") };
      const failed = await promisify(execFile)(process.execPath, ["--import", "tsx", server], { env }).then(
        () => undefined,
        (error: { code: number; stdout: string; stderr: string }) => error,
      );
      expect(failed?.code).toBe(1);
      expect(failed?.stderr).toMatch(/^\[oncely\] \[sqlite\] startup check failed: /);
      expect(failed?.stdout).not.toContain("listening");
      expect(failed?.stdout).not.toContain("oncely demo");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
