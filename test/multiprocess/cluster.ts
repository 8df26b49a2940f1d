import { type ChildProcess, fork } from "node:child_process";
import { once } from "node:events";
import { bundledScript } from "../support/bundled-script.js";
import { type Execution, WORKER_CONFIG_ENV, type WorkerConfig, type WorkerMessage } from "./protocol.js";
import { dynaliteCredentials, type StoreConfig } from "./store-config.js";

/** worker.ts compiled once (test/support/bundled-script.ts): tsx would compile it again in each of the 4 workers. */
const workerScript = () => bundledScript(new URL("./worker.ts", import.meta.url), "multiprocess-worker");

/** A forked worker as the parent sees it. */
export interface Worker {
  readonly index: number;
  readonly pid: number;
  /** `http://127.0.0.1:<port>` of the worker's server. */
  readonly origin: string;
  readonly child: ChildProcess;
}

/** What the workers did since the last drain. */
export interface Drained {
  executions: Execution[];
  /** Engine events by type, summed over the workers. */
  events: Record<string, number>;
}

/** The workers of one store's run. `stop` always ends every process, also after a failure. */
export interface Cluster {
  readonly workers: readonly Worker[];
  /** Collects (and clears) every worker's execution log. */
  drain(): Promise<Drained>;
  stop(): Promise<void>;
}

/**
 * Forks `count` workers sharing one store and waits until each listens. A worker that fails to start rejects the
 * whole start (and the others are stopped), with the worker's own error message.
 */
export async function startCluster(
  store: StoreConfig,
  options: { count: number; handlerMs: number; storeTimeout: number },
): Promise<Cluster> {
  const children: ChildProcess[] = [];
  const workers: Worker[] = [];
  let stopping = false;
  const stop = () => {
    stopping = true;
    return Promise.all(children.map(stopChild)).then(() => undefined);
  };
  try {
    const script = await workerScript();
    for (let index = 0; index < options.count; index++) {
      const { handlerMs, storeTimeout } = options;
      const config: WorkerConfig = { worker: index, store, handlerMs, storeTimeout };
      const child = fork(script, [], {
        execArgv: [],
        env: { ...process.env, ...dynaliteCredentials, [WORKER_CONFIG_ENV]: JSON.stringify(config) },
        stdio: ["ignore", "inherit", "inherit", "ipc"],
      });
      // A worker that dies before it is asked to stop is a failure of the run: say so at once, with its signal.
      child.once("exit", (code, signal) => {
        if (!stopping) console.error(`[multiprocess] worker ${index} (pid ${child.pid}) died: ${signal ?? code}`);
      });
      // A send to a worker that died fails through `reply`'s exit check; this only keeps it from being uncaught.
      child.on("error", () => {});
      children.push(child);
    }
    // Forked together, started in parallel.
    const ready = await Promise.all(children.map((child) => reply(child, "ready")));
    ready.forEach(({ port, pid }, index) => {
      workers.push({ index, pid, origin: `http://127.0.0.1:${port}`, child: children[index]! });
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    workers,
    async drain() {
      const replies = await Promise.all(
        children.map((child) => {
          const drained = reply(child, "drained");
          if (child.connected) child.send({ type: "drain" });
          return drained;
        }),
      );
      const events: Record<string, number> = {};
      for (const reply of replies) {
        for (const [type, count] of Object.entries(reply.events)) events[type] = (events[type] ?? 0) + count;
      }
      return { executions: replies.flatMap((reply) => reply.executions), events };
    },
    stop,
  };
}

/** Resolves with the child's next message of `type`; rejects when it reports a failure or exits first. */
function reply<T extends WorkerMessage["type"]>(
  child: ChildProcess,
  type: T,
): Promise<Extract<WorkerMessage, { type: T }>> {
  return new Promise((resolve, reject) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      reject(new Error(`worker ${child.pid} had exited (${child.signalCode ?? child.exitCode}) before "${type}"`));
      return;
    }
    const onMessage = (message: WorkerMessage) => {
      if (message.type === type) {
        cleanup();
        resolve(message as Extract<WorkerMessage, { type: T }>);
      } else if (message.type === "failed") {
        cleanup();
        reject(new Error(`worker ${child.pid} failed: ${message.message}`));
      }
    };
    const onExit = (code: number | null, signal: string | null) => {
      cleanup();
      reject(new Error(`worker ${child.pid} exited (${signal ?? code}) before answering "${type}"`));
    };
    const cleanup = () => {
      child.off("message", onMessage);
      child.off("exit", onExit);
    };
    child.on("message", onMessage);
    child.on("exit", onExit);
  });
}

/** Asks a worker to close its server and store; kills it when it does not end within a few seconds. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  if (child.connected) child.send({ type: "stop" });
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}
