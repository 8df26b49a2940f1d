import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { Redis } from "ioredis";
import { freePort } from "./free-port.js";

/** A redis-server of a test's own, on a free port, without persistence: what the test does there touches no one. */
export interface OwnRedis {
  port: number;
  url: string;
  /** Stops the server and waits for it to exit. */
  stop(): Promise<void>;
}

/** How long a server may take to answer its first PING. */
const START_TIMEOUT_MS = 10_000;

/**
 * Starts `redis-server` (extra `args` appended) and resolves once it answers PING. The server is stopped when the
 * test process exits, whatever happened to the test, and at once when it fails to start.
 */
export async function startRedis(args: string[] = []): Promise<OwnRedis> {
  const port = await freePort();
  const server: ChildProcess = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", ...args],
    { stdio: "ignore" },
  );
  const exited = once(server, "exit");
  const kill = () => {
    if (server.exitCode === null && server.signalCode === null) server.kill("SIGTERM");
  };
  process.once("exit", kill);
  const stop = async () => {
    kill();
    await exited;
  };
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + START_TIMEOUT_MS;
  // Polled until it answers (a start takes some milliseconds); exiting first, or never answering, fails the start.
  while (!(await answers(url))) {
    if (server.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`redis-server on port ${port} did not start (exit code ${server.exitCode})`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { port, url, stop };
}

async function answers(url: string): Promise<boolean> {
  const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  probe.on("error", () => {});
  try {
    await probe.connect();
    return (await probe.ping()) === "PONG";
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}
