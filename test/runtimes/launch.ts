import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import type { RunningServer } from "../http/app-spec.js";
import type { CaseResult } from "./harness.js";

const root = fileURLToPath(new URL("../..", import.meta.url));

/** A runtime's binary as the npm package installs it (node_modules/.bin/bun, node_modules/.bin/deno). */
export const runtimeBin = (name: "bun" | "deno") => `${root}node_modules/.bin/${name}`;

/** Starts a server process and waits for its "listening <url>" line; fails with its output if it exits first. */
export async function launchServer(
  command: string,
  args: string[],
  env: Record<string, string> = {},
  timeout = 30_000,
): Promise<RunningServer> {
  const child = spawn(command, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  let output = "";
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => fail(`no "listening" line within ${timeout} ms`), timeout);
    const fail = (why: string) => {
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(new Error(`${command} ${args.join(" ")}: ${why}\n${output}`));
    };
    const read = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /^listening (\S+)$/m.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout!.on("data", read);
    child.stderr!.on("data", read);
    child.once("exit", (code) => fail(`exited with ${code} before listening`));
    child.once("error", (error) => fail(error.message));
  });
  child.removeAllListeners("exit");
  return { url, close: () => stop(child) };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  await exited;
}

/** Runs the store suite entry to its end and reads the results it printed as its last line. */
export async function runSuiteProcess(command: string, args: string[]): Promise<CaseResult[]> {
  const child = spawn(command, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const [code] = await once(child, "exit");
  const last = stdout.trim().split("\n").at(-1) ?? "";
  if (code !== 0 || !last.startsWith("[")) throw new Error(`${command} exited with ${code}:\n${stdout}\n${stderr}`);
  return JSON.parse(last) as CaseResult[];
}
