import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Cluster, Redis } from "ioredis";
import { freePort } from "./free-port.js";
import { servicesRequired } from "./services.js";

// A real Redis Cluster of three masters, started by the test that needs it from the machine's redis-server, on ports
// of its own: nothing is shared with the standalone Redis on 6379, and nothing is left behind.

const run = promisify(execFile);

export interface RedisCluster {
  /** The masters' addresses. */
  readonly nodes: readonly { host: string; port: number }[];
  /** A new ioredis Cluster client on it. */
  client(): Cluster;
  stop(): Promise<void>;
}

/** Whether this machine can start one: redis-server and redis-cli on the PATH. Under ONCELY_REQUIRE_SERVICES=1, it must. */
export async function clusterAvailable(): Promise<boolean> {
  try {
    await run("redis-server", ["--version"]);
    await run("redis-cli", ["--version"]);
    return true;
  } catch {
    if (servicesRequired) throw new Error("redis-server and redis-cli are needed for the Redis Cluster tests");
    console.warn("[oncely tests] redis-server or redis-cli not found: skipping the Redis Cluster tests");
    return false;
  }
}

/** A port whose cluster bus port (port + 10000) is free as well. */
async function clusterPort(): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port + 10_000 > 65_535) continue;
    const probe = await freePortIs(port + 10_000);
    if (probe) return port;
  }
}

async function freePortIs(port: number): Promise<boolean> {
  const { createServer } = await import("node:net");
  return new Promise((resolve) => {
    const server = createServer().once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let delay = 20;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Redis Cluster: timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 250);
  }
}

export async function startRedisCluster(): Promise<RedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), "oncely-redis-cluster-"));
  const ports = [await clusterPort(), await clusterPort(), await clusterPort()];
  const processes: ChildProcess[] = ports.map((port) =>
    spawn(
      "redis-server",
      [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        join(dir, `nodes-${port}.conf`),
        "--dir",
        dir,
        "--save",
        "",
        "--appendonly",
        "no",
        "--cluster-node-timeout",
        "5000",
      ],
      { stdio: "ignore" },
    ),
  );
  const direct = ports.map((port) =>
    // Refused connections while a node starts are expected: `until` retries them.
    new Redis({ port, host: "127.0.0.1", lazyConnect: true, maxRetriesPerRequest: 0 }).on("error", () => {}),
  );
  const stop = async () => {
    for (const connection of direct) connection.disconnect();
    await Promise.all(
      processes.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null) return resolve();
            child.once("exit", () => resolve());
            child.kill("SIGKILL");
          }),
      ),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await Promise.all(
      direct.map((connection) => until("a node to start", async () => connection.connect().then(() => true))),
    );
    await run("redis-cli", [
      "--cluster",
      "create",
      ...ports.map((port) => `127.0.0.1:${port}`),
      "--cluster-replicas",
      "0",
      "--cluster-yes",
    ]);
    for (const connection of direct) {
      await until("cluster_state:ok", async () =>
        (await connection.cluster("INFO")).includes("cluster_state:ok") ? true : undefined,
      );
    }
  } catch (error) {
    await stop();
    throw error;
  }
  const nodes = ports.map((port) => ({ host: "127.0.0.1", port }));
  return {
    nodes,
    client: () => new Cluster(nodes, { redisOptions: { maxRetriesPerRequest: 3 } }),
    stop,
  };
}
