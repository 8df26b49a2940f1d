import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { createToolCaller, idempotencyInfo, REPLAYED_META } from "../../src/mcp/index.js";
import { httpClient } from "./support/clients.js";
import { effectLines, FIXTURE, fixtureEnv, startHttpFixture } from "./support/processes.js";

// Server processes that share one SQLite file, as an MCP server scaled out or restarted would.
const dir = mkdtempSync(join(tmpdir(), "oncely-mcp-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const children: ChildProcess[] = [];
const clients: Client[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
  await Promise.all(
    children.splice(0).map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, "exit");
      child.kill("SIGKILL");
      await exited;
    }),
  );
});
const files = (name: string) => ({
  ONCELY_MCP_DB: join(dir, `${name}.db`),
  ONCELY_MCP_EFFECTS: join(dir, `${name}.log`),
});

describe("oncely/mcp across processes on one SQLite store", () => {
  it("runs a call sent to two server processes at once with one key once; both get its result", async () => {
    const settings = { ...files("two-processes"), ONCELY_MCP_DELAY: "400" };
    const servers = await Promise.all([startHttpFixture(settings), startHttpFixture(settings)]);
    children.push(...servers.map((server) => server.child));
    const [a, b] = await Promise.all(servers.map((server) => httpClient(server.url)));
    clients.push(a!, b!);
    const call = (client: Client) =>
      client.callTool({ name: "create_charge", arguments: { amount: 4200 }, _meta: { idempotencyKey: "order-42" } });
    const [first, second] = await Promise.all([call(a!), call(b!)]);
    expect(effectLines(settings.ONCELY_MCP_EFFECTS).filter((line) => line.startsWith("charge"))).toHaveLength(1);
    expect(second.content).toEqual(first.content);
    expect([first, second].filter((result) => result._meta?.[REPLAYED_META] === true)).toHaveLength(1);
  });

  it("stdio: a server killed mid-tool and restarted runs the retry once the lease lapses, resuming after the recorded step", async () => {
    const settings = { ...files("stdio-restart"), ONCELY_MCP_LEASE: "1000", ONCELY_MCP_TRANSPORT: "stdio" };
    const pids: number[] = [];
    const connect = async (client: Client, hold: boolean) => {
      const transport = new StdioClientTransport({
        command: process.execPath,
        args: ["--import", "tsx", FIXTURE],
        env: fixtureEnv({ ...settings, ONCELY_MCP_HOLD: hold ? "1" : "0" }),
      });
      await client.connect(transport);
      pids.push(transport.pid!);
    };
    const client = new Client({ name: "agent", version: "1.0.0" });
    clients.push(client);
    await connect(client, true);
    // The restarted server does not hold: it finishes the tool.
    const callTool = createToolCaller(client, { backoff: { base: 10, cap: 50 }, reconnect: (c) => connect(c, false) });
    const call = callTool({ name: "checkout", arguments: { order: "o-1" } });

    await expect.poll(() => effectLines(settings.ONCELY_MCP_EFFECTS), { timeout: 15_000 }).toContain("holding");
    process.kill(pids[0]!, "SIGKILL");
    const result = await call;

    expect(effectLines(settings.ONCELY_MCP_EFFECTS)).toEqual(["reserve o-1", "holding", "capture o-1"]);
    const answer = JSON.parse((result.content as { text: string }[])[0]!.text);
    expect(answer.recovered).toBe(true);
    // The reservation is the first process's, recorded by its step and handed to the second run.
    expect(answer.reservation).toBe(`reservation-${pids[0]}`);
    expect(answer.capture).toBe(`capture-${pids[1]}`);
    expect(idempotencyInfo(result)?.attempts).toBeGreaterThanOrEqual(2);
  });
});
