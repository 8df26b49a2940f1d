import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Cluster, Redis } from "ioredis";
import { afterAll, beforeAll } from "vitest";
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
  /**
   * Starts moving one hash slot to the next master, as `redis-cli --cluster reshard` does: the target imports, the
   * source migrates. Until `finish`, clients get ASK for keys already moved and TRYAGAIN for a command whose keys are
   * split between the two or not all created yet.
   */
  beginMigration(slot: number): Promise<SlotMigration>;
  /** `beginMigration`, then `finish(batch)`: resolves with the number of keys moved. */
  migrateSlot(slot: number, batch?: number): Promise<number>;
  /**
   * What the masters counted so far, summed over them: error replies by their first word (`TRYAGAIN`, `ASK`, `MOVED`,
   * `NOSCRIPT`, `ERR`..., from `INFO errorstats`), and per command the calls refused before running (`rejected`) and
   * those that failed while running (`failed`, from `INFO commandstats`).
   */
  serverStats(): Promise<ServerStats>;
  stop(): Promise<void>;
}

/** A slot on its way from one master to another. */
export interface SlotMigration {
  /** Moves the keys named (they must be in the slot) to the target now. */
  moveKeys(keys: readonly string[]): Promise<void>;
  /**
   * Moves the slot's remaining keys in batches of `batch` (redis-cli's default is 10), then makes the target the
   * owner on every node (clients get MOVED from then on). Resolves with the number of keys this call moved.
   */
  finish(batch?: number): Promise<number>;
}

export interface ServerStats {
  errors: Record<string, number>;
  rejected: Record<string, number>;
  failed: Record<string, number>;
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
    // A connection refused while its node starts keeps reconnecting on its own; connect() again would only throw
    // "already connecting" until the deadline.
    await Promise.all(
      direct.map((connection) =>
        until("a node to start", async () => {
          if (connection.status === "wait" || connection.status === "end") await connection.connect();
          return connection.status === "ready" ? true : undefined;
        }),
      ),
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
  const ids = await Promise.all(direct.map((connection) => connection.cluster("MYID") as Promise<string>));
  const ownerOf = async (slot: number) => {
    const slots = (await direct[0]!.cluster("SLOTS")) as unknown as [number, number, [string, number, string]][];
    const range = slots.find(([from, to]) => slot >= from && slot <= to)!;
    return ports.indexOf(range[2][1]);
  };
  const cluster: RedisCluster = {
    nodes,
    client: () => new Cluster(nodes, { redisOptions: { maxRetriesPerRequest: 3 } }),
    async beginMigration(slot) {
      const from = await ownerOf(slot);
      const to = (from + 1) % ports.length;
      const [source, target] = [direct[from]!, direct[to]!];
      await target.cluster("SETSLOT", slot, "IMPORTING", ids[from]!);
      await source.cluster("SETSLOT", slot, "MIGRATING", ids[to]!);
      const migrate = (keys: readonly string[]) =>
        source.call("MIGRATE", "127.0.0.1", String(ports[to]), "", "0", "5000", "KEYS", ...keys);
      return {
        async moveKeys(keys) {
          await migrate(keys);
        },
        async finish(batch = 10) {
          let moved = 0;
          for (;;) {
            const keys = (await source.cluster("GETKEYSINSLOT", slot, batch)) as string[];
            if (keys.length === 0) break;
            await migrate(keys);
            moved += keys.length;
          }
          for (const connection of [target, source, ...direct.filter((c) => c !== source && c !== target)]) {
            await connection.cluster("SETSLOT", slot, "NODE", ids[to]!);
          }
          return moved;
        },
      };
    },
    async migrateSlot(slot, batch) {
      return (await cluster.beginMigration(slot)).finish(batch);
    },
    async serverStats() {
      const stats: ServerStats = { errors: {}, rejected: {}, failed: {} };
      const add = (counts: Record<string, number>, name: string, count: string) => {
        counts[name] = (counts[name] ?? 0) + Number(count);
      };
      for (const connection of direct) {
        for (const [, name, count] of (await connection.info("errorstats")).matchAll(/errorstat_(\w+):count=(\d+)/g)) {
          add(stats.errors, name!, count!);
        }
        const commands = (await connection.info("commandstats")).matchAll(
          /cmdstat_([\w|]+):.*rejected_calls=(\d+),failed_calls=(\d+)/g,
        );
        for (const [, name, rejected, failed] of commands) {
          add(stats.rejected, name!, rejected!);
          add(stats.failed, name!, failed!);
        }
      }
      return stats;
    },
    stop,
  };
  return cluster;
}

/**
 * A Cluster and a client on it for the calling file's tests: started before them (`beforeAll`), stopped after them
 * (`afterAll`). Read `cluster` and `client` inside the tests.
 */
export function clusterForTests(): { readonly cluster: RedisCluster; readonly client: Cluster } {
  const started = {} as { cluster: RedisCluster; client: Cluster };
  beforeAll(async () => {
    started.cluster = await startRedisCluster();
    started.client = started.cluster.client();
  }, 60_000);
  afterAll(async () => {
    started.client?.disconnect();
    await started.cluster?.stop();
  });
  return started;
}
