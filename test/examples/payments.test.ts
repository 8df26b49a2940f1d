import { type ChildProcess, execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPaymentsApp } from "../../examples/payments/app.js";
import { openDemoDatabase } from "../../examples/payments/database.js";
import type { RunningServer } from "../http/app-spec.js";
import { listen } from "../http/servers.js";
import { freePort } from "../support/free-port.js";
import { untilInFlight } from "../support/until.js";

const charge = (url: string, key: string | undefined, amount: number) =>
  fetch(`${url}/charges`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(key ? { "idempotency-key": key } : {}) },
    body: JSON.stringify({ amount }),
  });
const listCharges = async (url: string) => (await (await fetch(`${url}/charges`)).json()) as { count: number };

describe("example: payments demo (the README's curl lines)", () => {
  let server: RunningServer;
  let demo: ReturnType<typeof createPaymentsApp>;
  beforeAll(async () => {
    demo = createPaymentsApp(await openDemoDatabase(":memory:"));
    server = await listen(createServer(demo.app));
  });
  afterAll(() => server.close());

  it("executes, replays, conflicts, mismatches and requires a key, charging once per key", async () => {
    const first = await charge(server.url, "order-1", 1000);
    expect(first.status).toBe(201);
    const replay = await charge(server.url, "order-1", 1000);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(await replay.json()).toEqual(await first.json());

    const running = charge(server.url, "order-2", 500);
    await untilInFlight(demo.idem.store, "order-2");
    expect((await charge(server.url, "order-2", 500)).status).toBe(409);
    expect((await running).status).toBe(201);

    expect((await charge(server.url, "order-1", 9999)).status).toBe(422);
    expect((await charge(server.url, undefined, 1)).status).toBe(400);
    expect((await listCharges(server.url)).count).toBe(2);
  });
});

describe("example: payments demo across a restart (npm start, Ctrl-C, npm start)", () => {
  const serverModule = fileURLToPath(new URL("../../examples/payments/server.ts", import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), "oncely-demo-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Starts `npm start`'s server as its own process and resolves once it printed its tour. */
  async function start(port: number): Promise<ChildProcess> {
    const child = spawn(process.execPath, ["--import", "tsx", serverModule], {
      env: { ...process.env, PORT: String(port), ONCELY_DEMO_DB: join(dir, "demo.db") },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let output = "";
    child.stdout!.setEncoding("utf8");
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on("data", (chunk: string) => {
        output += chunk;
        if (output.includes("oncely demo: a payments API on")) resolve();
      });
      child.once("exit", (code) => reject(new Error(`the demo exited (${code}) before it listened:\n${output}`)));
    });
    return child;
  }

  async function stop(child: ChildProcess): Promise<void> {
    const exited = once(child, "exit");
    child.kill("SIGTERM");
    await exited;
  }

  it("replays a charge made before the restart and still lists it: keys and charges are kept together", async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const before = await start(port);
    const first = await charge(url, "order-1", 1000);
    expect(first.status).toBe(201);
    const charged = await first.json();
    await stop(before);

    const after = await start(port);
    try {
      const replay = await charge(url, "order-1", 1000);
      expect(replay.status).toBe(201);
      expect(replay.headers.get("idempotent-replayed")).toBe("true");
      expect(await replay.json()).toEqual(charged);
      expect(await (await fetch(`${url}/charges`)).json()).toEqual({ count: 1, charges: [charged] });
    } finally {
      await stop(after);
    }
  });

  it("a database that cannot be opened stops the demo at boot, with the cause, before it listens", async () => {
    writeFileSync(join(dir, "a-file"), "");
    const env = { ...process.env, PORT: "0", ONCELY_DEMO_DB: join(dir, "a-file", "demo.db") };
    const failed = await promisify(execFile)(process.execPath, ["--import", "tsx", serverModule], { env }).then(
      () => undefined,
      (error: { code: number; stdout: string; stderr: string }) => error,
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stderr).toMatch(/^oncely demo: cannot open .*a-file\/demo\.db: /);
    expect(failed?.stdout).not.toContain("oncely demo");
  });
});
