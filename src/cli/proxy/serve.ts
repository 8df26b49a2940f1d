import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Idempotency } from "../../core/engine.js";
import type { DrainResult, OncelyProxy, ProxyLogEntry } from "./proxy.js";

// The proxy's process life: listen, wait for SIGTERM (or SIGINT), then drain and close in order. Kept apart from the
// command's parsing so that it reads as the shutdown sequence docs/proxy.md describes.

export interface Serving {
  /** The URL the proxy listens on (with the port the system chose for `--port 0`). */
  url: string;
  /** Resolves once a signal has been received and the proxy has drained and closed. */
  stopped: Promise<DrainResult>;
}

export interface ServeOptions {
  proxy: OncelyProxy;
  idem: Idempotency;
  host: string;
  port: number;
  drainTimeout: number;
  log: (entry: ProxyLogEntry) => void;
  /** The signals that stop the proxy. @default ["SIGTERM", "SIGINT"] */
  signals?: readonly NodeJS.Signals[];
}

/**
 * Listens, and on the first signal: stops accepting connections, closes idle ones, waits up to `drainTimeout` for
 * requests under way, aborts the rest (releasing their claims), then closes the upstream pool and the store.
 *
 * @throws the listen error (`EADDRINUSE`, `EACCES`) when the port cannot be had
 */
export async function serve(options: ServeOptions): Promise<Serving> {
  const { proxy, idem, log } = options;
  const server: Server = createServer(proxy.handle);
  server.listen(options.port, options.host);
  await Promise.race([
    once(server, "listening"),
    once(server, "error").then(([error]) => {
      throw error;
    }),
  ]);
  const { port, address } = server.address() as AddressInfo;
  const host = address.includes(":") ? `[${address}]` : address;
  const signals = options.signals ?? ["SIGTERM", "SIGINT"];
  const listeners = new Map<NodeJS.Signals, () => void>();
  const stopped = new Promise<NodeJS.Signals>((resolve) => {
    for (const signal of signals) {
      listeners.set(signal, () => resolve(signal));
      process.once(signal, listeners.get(signal)!);
    }
  }).then(async (signal) => {
    for (const [other, listener] of listeners) process.off(other, listener);
    // A second signal (an impatient Ctrl-C, an orchestrator's second notice) stops the wait: what is still running is
    // released at once, rather than left to lapse with its lease.
    let hurried!: () => void;
    const hurry = new Promise<void>((resolve) => {
      hurried = resolve;
    });
    for (const other of signals) process.once(other, hurried);
    log({ level: "info", msg: "oncely proxy draining", proxy: { signal, in_flight: proxy.inFlight } });
    server.close();
    server.closeIdleConnections();
    const result = await proxy.drain(options.drainTimeout, hurry);
    for (const other of signals) process.off(other, hurried);
    server.closeAllConnections();
    await proxy.close().catch(() => {});
    await idem.close().catch(() => {});
    log({ level: "info", msg: "oncely proxy stopped", proxy: { ...result } });
    return result;
  });
  return { url: `http://${host}:${port}`, stopped };
}
