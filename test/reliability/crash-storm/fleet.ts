import { type ChildProcess, fork } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { dynaliteCredentials } from "../../multiprocess/store-config.js";
import type { KillPoint, ParentMessage, StormWorkerConfig, WorkerMessage } from "./protocol.js";
import { STORM_WORKER_ENV } from "./protocol.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));

/**
 * Bundles worker.ts, the oncely sources and the drivers it loads into ES modules (each store's driver a chunk of its
 * own, loaded only by the store that needs it; native and optional packages stay imports). Hundreds of restarts are
 * the point of the storm: a bundled worker starts in about half the time of one that resolves its packages file by
 * file, and several times faster than one tsx compiles on every start. The bundle sits under node_modules/.cache so
 * what it leaves as imports resolves to the project's packages.
 */
export async function bundleWorker(): Promise<{ script: string; remove(): void }> {
  const dir = join(root, "node_modules", ".cache", "oncely-crash-storm", randomUUID().slice(0, 8));
  mkdirSync(dir, { recursive: true });
  await build({
    entryPoints: { worker: fileURLToPath(new URL("./worker.ts", import.meta.url)) },
    outdir: dir,
    outExtension: { ".js": ".mjs" },
    bundle: true,
    splitting: true,
    platform: "node",
    format: "esm",
    target: "node20",
    // ioredis stays an import: bundled, its class is not where the store looks for it.
    external: ["better-sqlite3", "pg-native", "@aws-sdk/*", "ioredis"],
    // Bundled CommonJS packages call require() for Node's built-ins.
    banner: {
      js: 'import { createRequire as __oncelyRequire } from "node:module"; const require = __oncelyRequire(import.meta.url);',
    },
    logLevel: "error",
  });
  return { script: join(dir, "worker.mjs"), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** One slot of the fleet: a port that outlives the processes that serve it. */
export interface Slot {
  readonly index: number;
  /** The slot's port, chosen by the kernel for its first process and taken by every replacement. */
  port: number;
  /** The live process, or undefined between its death and its replacement's `ready`. */
  child: ChildProcess | undefined;
  /** The live process's pid, or the last one's after it died. */
  pid: number | undefined;
  /** How the last process ended (signal or exit code), once it has. */
  exit: string | undefined;
}

export type WorkerSettings = StormWorkerConfig;

/**
 * `count` workers, each on its own port, and `spares` warm processes (started, connected to the store and the
 * ledger, not listening). A killed worker is replaced on its port by a spare, and a new spare starts at once: a
 * kill costs the slot the time to listen, not the time a loaded machine takes to start Node. Every pid that served is
 * remembered, so the window logs of all of them can be read afterwards.
 */
export async function startFleet(script: string, count: number, spareCount: number, settings: WorkerSettings) {
  const slots: Slot[] = Array.from({ length: count }, (_, index) => ({
    index,
    port: 0,
    child: undefined,
    pid: undefined,
    exit: undefined,
  }));
  const pids: number[] = [];
  /** Every process forked and not yet put on a slot, so `stop` ends them too. */
  const unplaced = new Set<ChildProcess>();
  /** The spares, oldest (most likely warm) first. */
  const pool: Promise<ChildProcess>[] = [];
  let stopping = false;

  /** Forks a process and waits until it is warm. */
  async function warm(): Promise<ChildProcess> {
    const child = fork(script, [], {
      env: { ...process.env, ...dynaliteCredentials, [STORM_WORKER_ENV]: JSON.stringify(settings) },
      execArgv: ["--expose-gc"],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    // A send to a process that just died fails here; the chaos loop sees the exit itself.
    child.on("error", () => {});
    unplaced.add(child);
    const message = await firstMessage(child);
    if (message.type !== "warm") throw new Error(`a worker failed to start: ${JSON.stringify(message)}`);
    return child;
  }

  function addSpare(): void {
    const spare = warm();
    spare.catch(() => {});
    pool.push(spare);
  }

  /** Takes the oldest spare once it is warm (a spare that failed to start is replaced and skipped). */
  async function takeSpare(): Promise<ChildProcess> {
    for (let attempt = 1; ; attempt++) {
      const spare = pool.shift() ?? warm();
      try {
        return await spare;
      } catch (error) {
        addSpare();
        if (attempt >= 3 || stopping) throw error;
      }
    }
  }

  /** Puts a warm process on the slot's port. */
  async function place(slot: Slot, child: ChildProcess): Promise<void> {
    unplaced.delete(child);
    const ready = firstMessage(child);
    child.send({ type: "listen", slot: slot.index, port: slot.port } satisfies ParentMessage);
    const message = await ready;
    if (message.type !== "ready")
      throw new Error(`worker slot ${slot.index} failed to listen: ${JSON.stringify(message)}`);
    slot.port = message.port;
    slot.pid = message.pid;
    slot.child = child;
    slot.exit = undefined;
    pids.push(message.pid);
    child.once("exit", (code, signal) => {
      if (slot.child !== child) return;
      slot.child = undefined;
      slot.exit = String(signal ?? code);
    });
  }

  const stop = async (): Promise<void> => {
    stopping = true;
    const spares = await Promise.allSettled(pool.splice(0));
    for (const spare of spares) if (spare.status === "fulfilled") unplaced.add(spare.value);
    await Promise.all([...slots.map((slot) => stopChild(slot.child)), ...[...unplaced].map(stopChild)]);
  };

  for (let i = 0; i < count + spareCount; i++) addSpare();
  try {
    for (const slot of slots) await place(slot, await takeSpare());
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    slots,
    pids,
    origin: (slot: Slot) => `http://127.0.0.1:${slot.port}`,
    /** The slots whose process is up now. */
    live: () => slots.filter((slot) => slot.child !== undefined),
    send(slot: Slot, message: ParentMessage) {
      if (slot.child?.connected) slot.child.send(message);
    },
    arm(slot: Slot, point: KillPoint) {
      this.send(slot, { type: "arm", point });
    },
    /** A warm spare, reserved for a replacement: give it to `restart`, or back with `unreserve`. */
    reserve: takeSpare,
    unreserve(spare: ChildProcess): void {
      pool.unshift(Promise.resolve(spare));
    },
    /** Puts `spare` (or a new process) on the slot's port, and starts a new spare. */
    async restart(slot: Slot, spare?: ChildProcess): Promise<void> {
      await place(slot, spare ?? (await takeSpare()));
      if (!stopping) addSpare();
    },
    stop,
  };
}

export type Fleet = Awaited<ReturnType<typeof startFleet>>;

/** The child's first message, or a rejection when it exits before sending one. */
function firstMessage(child: ChildProcess): Promise<WorkerMessage> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: WorkerMessage) => {
      child.off("exit", onExit);
      resolve(message);
    };
    const onExit = (code: number | null, signal: string | null) => {
      child.off("message", onMessage);
      reject(new Error(`worker ${child.pid} exited (${signal ?? code}) before it was ready`));
    };
    child.once("message", onMessage);
    child.once("exit", onExit);
  });
}

async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  if (child.connected) child.send({ type: "stop" } satisfies ParentMessage);
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}
