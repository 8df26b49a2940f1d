import { type ChildProcess, execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { freePort } from "../support/free-port.js";

// examples/mcp as its README line runs it: the server (`npx tsx examples/mcp/server.ts`), then the agent, whose first
// answer is lost; the agent retries with the same key, and the server has charged once.
const example = (name: string) => fileURLToPath(new URL(`../../examples/mcp/${name}`, import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "oncely-mcp-example-"));
let server: ChildProcess | undefined;
afterAll(async () => {
  if (server && server.exitCode === null) {
    const exited = once(server, "exit");
    server.kill("SIGTERM");
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

describe("example: the payments MCP server and an agent that loses its first answer", () => {
  it("charges once; the retry is answered from the record; /stats counts one charge", async () => {
    const port = await freePort();
    server = spawn(process.execPath, ["--import", "tsx", example("server.ts")], {
      env: { ...process.env, PORT: String(port), ONCELY_MCP_DB: join(dir, "mcp.db") },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let output = "";
    server.stdout!.setEncoding("utf8");
    await new Promise<void>((resolve, reject) => {
      server!.stdout!.on("data", (chunk: string) => {
        output += chunk;
        if (output.includes("oncely MCP demo: payments tools on")) resolve();
      });
      server!.once("exit", (code) => reject(new Error(`the server exited (${code}) before it listened:\n${output}`)));
    });

    const origin = `http://127.0.0.1:${port}`;
    const agent = await promisify(execFile)(process.execPath, [
      "--import",
      "tsx",
      example("agent.ts"),
      `${origin}/mcp`,
    ]);
    expect(agent.stdout).toContain("agent: the connection dropped before the answer arrived (simulated)");
    expect(agent.stdout).toMatch(
      /agent: \{"id":"ch_\w+","amount":1999,"currency":"eur"\} \(replayed: true, attempts: 2\)/,
    );
    expect(agent.stdout).toContain("agent: the server lists 1 charge(s)");
    expect(await (await fetch(`${origin}/stats`)).json()).toEqual({ charges: 1 });
    expect(output).toMatch(/\[oncely\] replayed +tools\/call create_charge/);
  });
});
