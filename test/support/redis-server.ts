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

/** Starts `redis-server` (extra `args` appended) and resolves once it answers PING. */
export async function startRedis(args: string[] = []): Promise<OwnRedis> {
  const port = await freePort();
  const server: ChildProcess = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", ...args],
    { stdio: "ignore" },
  );
  const exited = once(server, "exit");
  const url = `redis://127.0.0.1:${port}`;
  // Polled until it answers (a start takes some milliseconds), or until it exits.
  let answered = false;
  exited.then(() => {
    if (!answered) answered = true;
  });
  while (!answered) {
    if (server.exitCode !== null) throw new Error(`redis-server exited with ${server.exitCode} before answering`);
    const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    probe.on("error", () => {});
    answered = await probe.connect().then(
      () => probe.ping().then(() => true),
      () => new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 20)),
    );
    probe.disconnect();
  }
  if (server.exitCode !== null) throw new Error(`redis-server exited with ${server.exitCode} before answering`);
  return {
    port,
    url,
    stop: async () => {
      if (server.exitCode === null) server.kill("SIGTERM");
      await exited;
    },
  };
}
