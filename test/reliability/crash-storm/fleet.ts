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
 * Bundles worker.ts (and the oncely sources it imports) into one ES module, drivers left as imports. Hundreds of
 * restarts are the point of the storm, and a bundled worker starts several times faster than one compiled by tsx
 * on every start. The bundle sits under node_modules/.cache so its imports resolve to the project's packages.
 */
export async function bundleWorker(): Promise<{ script: string; remove(): void }> {
  const dir = join(root, "node_modules", ".cache", "oncely-crash-storm", randomUUID().slice(0, 8));
  mkdirSync(dir, { recursive: true });
  const script = join(dir, "worker.mjs");
  await build({
    entryPoints: [fileURLToPath(new URL("./worker.ts", import.meta.url))],
    outfile: script,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    packages: "external",
    logLevel: "error",
  });
  return { script, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** One slot of the fleet: a port that outlives the processes that serve it. */
export interface Slot {
  readonly index: number;
  port: number;
  /** The live process, or undefined between its death and the restart's `ready`. */
  child: ChildProcess | undefined;
  /** The live process's pid, or the last one's after it died. */
  pid: number | undefined;
  /** How the last process ended (signal or exit code), once it has. */
  exit: string | undefined;
}

export type WorkerSettings = Omit<StormWorkerConfig, "slot" | "port">;

/**
 * Four (or `count`) workers, each on its own port; a killed one is restarted on the same port. Every pid ever
 * started is remembered, so the window logs of all of them can be read afterwards.
 */
export async function startFleet(script: string, count: number, settings: WorkerSettings) {
  const slots: Slot[] = Array.from({ length: count }, (_, index) => ({
    index,
    port: 0,
    child: undefined,
    pid: undefined,
    exit: undefined,
  }));
  const pids: number[] = [];
  let stopping = false;

  async function spawn(slot: Slot): Promise<void> {
    const config: StormWorkerConfig = { ...settings, slot: slot.index, port: slot.port };
    const child = fork(script, [], {
      env: { ...process.env, ...dynaliteCredentials, [STORM_WORKER_ENV]: JSON.stringify(config) },
      execArgv: ["--expose-gc"],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    // A send to a process that just died fails here; the chaos loop sees the exit itself.
    child.on("error", () => {});
    const ready = await firstMessage(child);
    if (ready.type !== "ready") throw new Error(`worker slot ${slot.index} failed to start: ${JSON.stringify(ready)}`);
    slot.port = ready.port;
    slot.pid = ready.pid;
    slot.child = child;
    slot.exit = undefined;
    pids.push(ready.pid);
    child.once("exit", (code, signal) => {
      if (slot.child !== child) return;
      slot.child = undefined;
      slot.exit = String(signal ?? code);
    });
  }

  await Promise.all(slots.map(spawn));

  return {
    slots,
    pids,
    origin: (slot: Slot) => `http://127.0.0.1:${slot.port}`,
    /** Origins of the slots whose process is up now. */
    live: () => slots.filter((slot) => slot.child !== undefined),
    send(slot: Slot, message: ParentMessage) {
      if (slot.child?.connected) slot.child.send(message);
    },
    arm(slot: Slot, point: KillPoint) {
      this.send(slot, { type: "arm", point });
    },
    /** Starts the slot's process again, on its port; retries a start that failed (a port still held, a slow box). */
    async restart(slot: Slot): Promise<void> {
      for (let attempt = 1; ; attempt++) {
        try {
          return await spawn(slot);
        } catch (error) {
          if (attempt >= 3 || stopping) throw error;
        }
      }
    },
    async stop(): Promise<void> {
      stopping = true;
      await Promise.all(slots.map((slot) => stopChild(slot.child)));
    },
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
