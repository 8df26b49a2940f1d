import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { describe, expect, it, vi } from "vitest";
import { IdempotencyRequestError } from "../../src/client/index.js";
import { createIdempotency, MemoryStore } from "../../src/index.js";
import { createToolCaller, idempotencyInfo, REPLAYED_META } from "../../src/mcp/index.js";
import { httpClient } from "./support/clients.js";
import { type ServeOptions, serveMcp } from "./support/http-server.js";
import { closedAfterEach } from "./support/opened.js";
import { paymentsTools } from "./support/payments-tools.js";

// The agent's side against a guarded server over real sockets: the answer to the first attempt is lost after the tool
// ran (the server's socket destroyed as the result is written), and the helper's retry gets the stored result.
const open = closedAfterEach();

async function setUp(serve: ServeOptions, guard: Parameters<typeof paymentsTools>[1] = {}) {
  const tools = paymentsTools(createIdempotency({ store: new MemoryStore(), logger: false }), guard);
  const served = await serveMcp(tools.make, serve);
  const client = await httpClient(served.url);
  open.push(served, client);
  return { ...tools, served, client };
}

const fast = { backoff: { base: 10, cap: 50 } };
const modes: [string, ServeOptions][] = [
  ["stateful, SSE answers", { mode: "stateful" }],
  ["stateful, JSON answers", { mode: "stateful", json: true }],
  ["stateless, SSE answers", { mode: "stateless" }],
  ["stateless, JSON answers", { mode: "stateless", json: true }],
];

describe("createToolCaller: one key per logical call, retried only when safe", () => {
  it.each(modes)(
    "Streamable HTTP %s: a lost answer is retried with the same key: one effect, the same result",
    async (_, serve) => {
      const { served, client, effects } = await setUp(serve);
      const callTool = createToolCaller(client, fast);
      served.loseNextAnswer();
      const result = await callTool({ name: "create_charge", arguments: { amount: 1250 } });
      expect(served.lost).toBe(1);
      expect(effects.charges).toHaveLength(1);
      expect(result.structuredContent).toEqual({ id: "ch_1", amount: 1250 });
      expect(result._meta?.[REPLAYED_META]).toBe(true);
      const info = idempotencyInfo(result)!;
      expect(info).toMatchObject({ replayed: true, attempts: 2 });
      expect(info.idempotencyKey).toMatch(/^[0-9a-f-]{36}$/);
    },
  );

  it("renews a Streamable HTTP session the server forgot through `reconnect`, keeping the call's key", async () => {
    const { served, client, effects } = await setUp({ mode: "stateful" });
    const reconnect = vi.fn((c: Client) => c.connect(new StreamableHTTPClientTransport(new URL(served.url))));
    const callTool = createToolCaller(client, { ...fast, reconnect, onRetry: () => served.forgetSessions() });
    served.loseNextAnswer();
    const result = await callTool({ name: "create_charge", arguments: { amount: 77 } });
    expect(reconnect).toHaveBeenCalledTimes(1);
    expect(effects.charges).toHaveLength(1);
    expect(result._meta?.[REPLAYED_META]).toBe(true);
    expect(result.structuredContent).toEqual({ id: "ch_1", amount: 77 });
  });

  it("sends a new key for each logical call, and the caller's own key or intent when given", async () => {
    const { client, effects } = await setUp({ mode: "stateless", json: true });
    const callTool = createToolCaller(client, fast);
    await callTool({ name: "create_charge", arguments: { amount: 1 } });
    await callTool({ name: "create_charge", arguments: { amount: 1 } });
    expect(effects.charges).toHaveLength(2);
    const own = await callTool({ name: "create_charge", arguments: { amount: 1 } }, { idempotencyKey: "order-7" });
    const again = await callTool({
      name: "create_charge",
      arguments: { amount: 1 },
      _meta: { idempotencyKey: "order-7" },
    });
    expect(idempotencyInfo(own)?.idempotencyKey).toBe("order-7");
    expect(again._meta?.[REPLAYED_META]).toBe(true);
    expect(effects.charges).toHaveLength(3);
  });

  it("waits out a call still running on the server (an in-flight error is retried) and gets its result", async () => {
    const { client, effects } = await setUp({ mode: "stateless", json: true }, { delay: 800, waitTimeout: 50 });
    const callTool = createToolCaller(client, fast);
    const both = await Promise.all([
      callTool({ name: "create_charge", arguments: { amount: 90 } }, { idempotencyKey: "double-click" }),
      callTool({ name: "create_charge", arguments: { amount: 90 } }, { idempotencyKey: "double-click" }),
    ]);
    expect(effects.charges).toHaveLength(1);
    expect(both[1].structuredContent).toEqual(both[0].structuredContent);
  });

  it("stops at once when the server refuses the key (reused with other arguments)", async () => {
    const { client } = await setUp({ mode: "stateless", json: true });
    const callTool = createToolCaller(client, fast);
    await callTool({ name: "create_charge", arguments: { amount: 1 } }, { idempotencyKey: "k-1" });
    const refused = callTool({ name: "create_charge", arguments: { amount: 2 } }, { idempotencyKey: "k-1" });
    await expect(refused).rejects.toBeInstanceOf(IdempotencyRequestError);
    await expect(refused).rejects.toMatchObject({ status: 422, attempts: 1, idempotencyKey: "k-1" });
  });

  it("returns a tool's isError result as final, without retrying it", async () => {
    const { client, effects } = await setUp({ mode: "stateless", json: true });
    const callTool = createToolCaller(client, fast);
    const result = await callTool({ name: "flaky_refund", arguments: { charge: "ch_1" } });
    expect(result.isError).toBe(true);
    expect(effects.failures).toBe(1);
    expect(idempotencyInfo(result)?.attempts).toBe(1);
  });

  it("does not retry a lost answer when the server does not say it honours keys: the tool could run twice", async () => {
    let runs = 0;
    const served = await serveMcp(
      () => {
        const server = new McpServer({ name: "plain", version: "1.0.0" });
        server.registerTool("send_email", {}, async () => {
          runs += 1;
          return { content: [{ type: "text", text: "sent" }] };
        });
        return server;
      },
      { mode: "stateless", json: true },
    );
    const client = await httpClient(served.url);
    open.push(served, client);
    served.loseNextAnswer();
    await expect(createToolCaller(client, fast)({ name: "send_email" })).rejects.toThrow();
    expect(runs).toBe(1);
  });
});
