import { type ChildProcess, spawn } from "node:child_process";
import { cliScript } from "../run-cli.js";

// `oncely proxy` as a child process, as an operator runs it: started, waited for until it logs that it listens,
// and stopped with a signal.

export interface RunningProxy {
  url: string;
  child: ChildProcess;
  /** The JSON lines written to stdout so far. */
  lines(): Record<string, unknown>[];
  stdout(): string;
  /** Sends `signal` and resolves with the exit code once the process has ended. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function spawnProxy(args: readonly string[], timeout = 30_000): Promise<RunningProxy> {
  const env = { ...process.env };
  delete env.ONCELY_STORE;
  delete env.ONCELY_DEBUG;
  const child = spawn(process.execPath, [await cliScript(), "proxy", ...args], { env });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the proxy did not start in time: ${stderr}`)), timeout);
    const check = () => {
      const match = /"msg":"oncely proxy listening on (http:\/\/[^"]+)"/.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout.on("data", check);
    exited.then((code) => reject(new Error(`the proxy exited with ${code}: ${stderr}`)));
  });
  const lines = () =>
    stdout
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return {
    url,
    child,
    lines,
    stdout: () => stdout,
    stop(signal = "SIGTERM") {
      child.kill(signal);
      return exited;
    },
  };
}
