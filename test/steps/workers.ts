import { type ChildProcess, fork } from "node:child_process";
import { once } from "node:events";
import { dynaliteCredentials } from "../multiprocess/store-config.js";
import { bundledScript } from "../support/bundled-script.js";
import {
  type ParentMessage,
  type RunCommand,
  type RunError,
  STEP_WORKER_ENV,
  type WorkerConfig,
  type WorkerMessage,
} from "./protocol.js";

/** What a run came back with: its result, or the error it threw (by name and code, across the process boundary). */
export interface RunOutcome {
  result?: unknown;
  error?: RunError;
}

/** A forked worker as the test drives it. */
export interface Worker {
  readonly pid: number;
  /** Runs the checkout in the worker and resolves with its outcome; rejects if the worker dies first. */
  run(command: Omit<RunCommand, "type" | "ask">): Promise<RunOutcome>;
  /** Runs a command that must kill the worker: resolves with the signal it died of, rejects if it answers instead. */
  crash(command: Omit<RunCommand, "type" | "ask">): Promise<string | null>;
  /** The steps the store holds for `key`'s record (null when there is no record). */
  steps(key: string): Promise<{ name: string; state: string; value?: string }[] | null>;
  stop(): Promise<void>;
}

let asks = 0;

/** Forks `count` workers at once (tsx compiles in parallel) and resolves when every one has opened the store. */
export async function forkWorkers(config: WorkerConfig, count: number): Promise<Worker[]> {
  // One bundle of worker.ts and the sources it imports: a worker starts in a fraction of the second tsx would take.
  const script = await bundledScript(new URL("./worker.ts", import.meta.url), "steps-worker");
  const children = Array.from({ length: count }, () =>
    fork(script, [], {
      env: { ...process.env, ...dynaliteCredentials, [STEP_WORKER_ENV]: JSON.stringify(config) },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    }),
  );
  for (const child of children) child.on("error", () => {});
  try {
    const ready = await Promise.all(children.map((child) => next(child, (m) => m.type === "ready")));
    return ready.map((_, index) => driver(children[index]!));
  } catch (error) {
    for (const child of children) child.kill("SIGKILL");
    throw error;
  }
}

function driver(child: ChildProcess): Worker {
  const ask = <T extends WorkerMessage>(message: ParentMessage & { ask: number }) => {
    const answer = next(child, (m) => "ask" in m && m.ask === message.ask) as Promise<T>;
    child.send(message);
    return answer;
  };
  return {
    pid: child.pid!,
    async run(command) {
      const { result, error } = await ask<Extract<WorkerMessage, { type: "ran" }>>({
        type: "run",
        ask: ++asks,
        ...command,
      });
      return error ? { error } : { result };
    },
    async crash(command) {
      const exited = once(child, "exit") as Promise<[number | null, string | null]>;
      const answered = ask({ type: "run", ask: ++asks, ...command }).then(
        (answer) => {
          throw new Error(`worker ${child.pid} answered instead of crashing: ${JSON.stringify(answer)}`);
        },
        () => undefined,
      );
      const [[, signal]] = await Promise.all([exited, answered]);
      return signal;
    },
    async steps(key) {
      const answer = await ask<Extract<WorkerMessage, { type: "record" }>>({ type: "record", ask: ++asks, key });
      return answer.steps;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, "exit");
      child.send({ type: "stop" } satisfies ParentMessage);
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The child's next message that `match`es; rejects when it reports a failure or exits first. */
function next(child: ChildProcess, match: (message: WorkerMessage) => boolean): Promise<WorkerMessage> {
  return new Promise((resolve, reject) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      reject(new Error(`worker ${child.pid} had exited (${child.signalCode ?? child.exitCode})`));
      return;
    }
    const onMessage = (message: WorkerMessage) => {
      if (match(message)) {
        cleanup();
        resolve(message);
      } else if (message.type === "failed") {
        cleanup();
        reject(new Error(`worker ${child.pid} failed: ${message.message}`));
      }
    };
    const onExit = (code: number | null, signal: string | null) => {
      cleanup();
      reject(new Error(`worker ${child.pid} exited (${signal ?? code}) before answering`));
    };
    const cleanup = () => {
      child.off("message", onMessage);
      child.off("exit", onExit);
    };
    child.on("message", onMessage);
    child.on("exit", onExit);
  });
}
