import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:http";
import { fileURLToPath } from "node:url";
import express from "express";
import { afterEach, describe, expect, it, vi } from "vitest";
import { idempotency } from "../../src/adapters/express/index.js";
import { createIdempotency, type IdempotencyEvent, type IdempotencyOptions, MemoryStore } from "../../src/index.js";
import { RedisStore } from "../../src/stores/redis/index.js";
import { listen } from "../http/servers.js";
import { freePort } from "../support/free-port.js";

// Found trying oncely as a new user: a Redis that was down answered every client 503 with
// `connect ECONNREFUSED 127.0.0.1:6379` in the problem's detail, a missing driver answered "npm install mysql2", and
// the server's own log said nothing unless `onEvent` was set. Clients now get a fixed detail per problem type; the
// cause goes to the server's log, once per distinct cause however many requests hit it.

/** An Express app guarded by `options`, whose handler counts its runs. */
async function expressApp(options: IdempotencyOptions) {
  const idem = createIdempotency(options);
  const app = express();
  let runs = 0;
  app.post("/charges", express.json(), idempotency(idem), (_req, res) => {
    runs += 1;
    res.status(201).json({ id: "ch_1" });
  });
  const server = await listen(createServer(app));
  return {
    url: server.url,
    runs: () => runs,
    close: async () => {
      await server.close();
      await idem.close();
    },
  };
}

const post = (url: string, key: string) =>
  fetch(`${url}/charges`, {
    method: "POST",
    headers: { "idempotency-key": key, "content-type": "application/json" },
    body: "{}",
  });

/** The non-empty lines a spy on a console method received. */
const linesOf = (spy: { mock: { calls: unknown[][] } }) => spy.mock.calls.map((call) => String(call[0]));

describe("regression: a failing store or check tells the client nothing internal, and the server's log the cause", () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
    vi.restoreAllMocks();
  });

  it("Redis down: every client gets a fixed 503 detail; console gets the cause with host and port, once", async () => {
    const port = await freePort();
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const app = await expressApp({ store: new RedisStore({ url: `redis://127.0.0.1:${port}`, timeout: 500 }) });
    cleanups.push(app.close);

    const requests = 20;
    for (let i = 0; i < requests; i++) {
      const response = await post(app.url, `down-${i}`);
      expect(response.status).toBe(503);
      expect(response.headers.get("retry-after")).toBe("1");
      const text = await response.text();
      for (const internal of ["ECONNREFUSED", "127.0.0.1", String(port), "[redis]", "    at "]) {
        expect(text).not.toContain(internal);
      }
      expect(JSON.parse(text)).toMatchObject({
        type: "urn:oncely:problem:store-unavailable",
        detail: "The idempotency store is unavailable; retry after 1 second.",
      });
    }
    expect(app.runs()).toBe(0);

    const lines = linesOf(errors);
    expect(lines.length).toBeGreaterThanOrEqual(1);
    // The store words a refused connection by the state ioredis is in (the connect itself, then "not connected
    // (connecting)" or "(reconnecting)"): one line for each of these causes at most, not one per request.
    expect(lines.length).toBeLessThanOrEqual(3);
    expect(new Set(lines).size).toBe(lines.length);
    for (const line of lines) expect(line).toContain(`ECONNREFUSED 127.0.0.1:${port}`);
  });

  it("a missing driver: clients get the same fixed 503; the server's log says which package to install, once", async () => {
    const server = fileURLToPath(new URL("../support/hidden-driver-server.ts", import.meta.url));
    const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", server], { stdio: "pipe" });
    cleanups.push(() => void child.kill());
    let stderr = "";
    child.stderr!.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const [portLine] = (await once(child.stdout!, "data")) as [Buffer];
    const url = `http://127.0.0.1:${portLine.toString().trim()}`;

    for (let i = 0; i < 5; i++) {
      const response = await post(url, `no-driver-${i}`);
      expect(response.status).toBe(503);
      const text = await response.text();
      for (const internal of ["mysql2", "npm install", "MySqlStore", "[mysql]"]) expect(text).not.toContain(internal);
      expect((JSON.parse(text) as { detail: string }).detail).toBe(
        "The idempotency store is unavailable; retry after 1 second.",
      );
    }
    const logged = stderr.split("\n").filter((line) => line.includes("mysql2"));
    expect(logged).toEqual(['[oncely] [mysql] MySqlStore needs the "mysql2" package: npm install mysql2']);
  });

  it("a scope function that throws: 500 with a fixed detail, the handler not run, the error in the log once", async () => {
    const lines: string[] = [];
    const logger = { warn: (line: string) => lines.push(line), error: (line: string) => lines.push(line) };
    const app = await expressApp({
      store: new MemoryStore(),
      logger,
      scope: () => {
        throw new Error("tenant lookup failed at 10.0.0.5:5432");
      },
    });
    cleanups.push(app.close);

    for (let i = 0; i < 3; i++) {
      const response = await post(app.url, `scope-${i}`);
      expect(response.status).toBe(500);
      const text = await response.text();
      expect(text).not.toContain("10.0.0.5");
      expect(text).not.toContain("tenant lookup");
      expect(JSON.parse(text)).toMatchObject({
        type: "urn:oncely:problem:check-failed",
        detail:
          "The server could not check this request's Idempotency-Key, and did not run it; the cause is in the server's log.",
      });
    }
    expect(app.runs()).toBe(0);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain("Error: tenant lookup failed at 10.0.0.5:5432");
    expect(lines[0]).toContain("check-failed on POST /charges");
  });

  it("a fingerprint function that throws is answered and logged the same way", async () => {
    const lines: string[] = [];
    const app = await expressApp({
      store: new MemoryStore(),
      logger: { warn: (line) => lines.push(line), error: (line) => lines.push(line) },
      fingerprint: () => {
        throw new TypeError("body.amount is undefined");
      },
    });
    cleanups.push(app.close);
    const response = await post(app.url, "fingerprint-throws");
    expect(response.status).toBe(500);
    expect(await response.text()).not.toContain("amount");
    expect(app.runs()).toBe(0);
    expect(lines).toEqual([expect.stringContaining("TypeError: body.amount is undefined")]);
  });

  it("with onEvent and no logger, the cause goes to onEvent only; logger: false writes nothing", async () => {
    const port = await freePort();
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const warnings = vi.spyOn(console, "warn").mockImplementation(() => {});
    const events: IdempotencyEvent[] = [];
    const withEvents = await expressApp({
      store: new RedisStore({ url: `redis://127.0.0.1:${port}`, timeout: 500 }),
      onEvent: (event) => events.push(event),
    });
    cleanups.push(withEvents.close);
    const silent = await expressApp({
      store: new RedisStore({ url: `redis://127.0.0.1:${port}`, timeout: 500 }),
      logger: false,
    });
    cleanups.push(silent.close);

    expect((await post(withEvents.url, "events")).status).toBe(503);
    expect((await post(silent.url, "silent")).status).toBe(503);
    expect(events.map((event) => event.type)).toEqual(["store-error"]);
    expect(String((events[0]!.error as Error).message)).toContain(`127.0.0.1:${port}`);
    expect(errors).not.toHaveBeenCalled();
    expect(warnings).not.toHaveBeenCalled();
  });
});
