import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** The fixture server's module (test/mcp/fixtures/payments-server.ts). */
export const FIXTURE = fileURLToPath(new URL("../fixtures/payments-server.ts", import.meta.url));

/** The fixture's environment on top of this process's. */
export function fixtureEnv(settings: Record<string, string>): Record<string, string> {
  return { ...(process.env as Record<string, string>), ...settings };
}

/** Starts the fixture on Streamable HTTP and resolves with its URL once it listens. */
export async function startHttpFixture(
  settings: Record<string, string>,
): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ["--import", "tsx", FIXTURE], {
    env: fixtureEnv({ ...settings, ONCELY_MCP_TRANSPORT: "http" }),
    stdio: ["ignore", "inherit", "pipe"],
  });
  let output = "";
  child.stderr!.setEncoding("utf8");
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.on("data", (chunk: string) => {
      output += chunk;
      const match = /listening (\S+)/.exec(output);
      if (match) resolve(match[1]!);
    });
    child.once("exit", (code) => reject(new Error(`the fixture exited (${code}) before it listened:\n${output}`)));
  });
  return { url, child };
}

/** The lines of the effects file, none when it does not exist yet. */
export function effectLines(path: string): string[] {
  return existsSync(path) ? readFileSync(path, "utf8").split("\n").filter(Boolean) : [];
}
