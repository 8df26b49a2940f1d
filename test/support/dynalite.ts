import { fork } from "node:child_process";
import { once } from "node:events";
import { bundledScript } from "./bundled-script.js";

/** dynalite running in a process of its own (dynalite-server.ts): where to reach it, and how to stop it. */
export interface Dynalite {
  /** `http://127.0.0.1:<port>`. */
  readonly endpoint: string;
  /** Kills the process and waits for it to exit. */
  stop(): Promise<void>;
}

/** Starts dynalite in a child process; it exits with the test process too (IPC disconnect). */
export async function startDynalite(): Promise<Dynalite> {
  const script = await bundledScript(new URL("./dynalite-server.ts", import.meta.url), "dynalite-server");
  const server = fork(script, [], { execArgv: [], stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const [{ port }] = (await once(server, "message")) as [{ port: number }];
  return {
    endpoint: `http://127.0.0.1:${port}`,
    async stop() {
      if (server.exitCode !== null || server.signalCode !== null) return;
      const exited = once(server, "exit");
      server.kill("SIGKILL");
      await exited;
    },
  };
}
