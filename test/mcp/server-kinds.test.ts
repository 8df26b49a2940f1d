import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { CallToolRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createIdempotency, MemoryStore } from "../../src/index.js";
import { guardTools, REPLAYED_META } from "../../src/mcp/index.js";
import { RedisStore } from "../../src/stores/redis/index.js";
import { freePort } from "../support/free-port.js";
import { httpClient, rpcError } from "./support/clients.js";
import { serveMcp } from "./support/http-server.js";
import { closedAfterEach } from "./support/opened.js";
import { paymentsTools } from "./support/payments-tools.js";

const open = closedAfterEach();
afterEach(() => {
  vi.restoreAllMocks();
});

describe("guardTools on a low-level Server (its own tools/call handler)", () => {
  // The SDK's own schema puts the guard below the SDK's result check; another (here one derived from it) keeps the
  // guard inside that check.
  it.each([
    ["the SDK's CallToolRequestSchema", CallToolRequestSchema],
    ["a schema of its own", CallToolRequestSchema.extend({})],
  ])(
    "stores what the handler returns, and releases the key when it throws (a JSON-RPC error): %s",
    async (_, schema) => {
      const server = new Server({ name: "low-level", version: "1.0.0" }, { capabilities: { tools: {} } });
      guardTools(server, { idempotency: createIdempotency({ store: new MemoryStore(), logger: false }) });
      let runs = 0;
      server.setRequestHandler(schema, async (request) => {
        runs += 1;
        if (request.params.name === "explode") throw new Error("the handler failed");
        return { content: [{ type: "text", text: `run ${runs}` }] };
      });
      // The SDK's in-memory transport: a real client and server, linked in process.
      const [serverSide, clientSide] = InMemoryTransport.createLinkedPair();
      await server.connect(serverSide);
      const client = new Client({ name: "agent", version: "1.0.0" });
      await client.connect(clientSide);
      open.push(client);

      const call = (name: string) => client.callTool({ name, _meta: { idempotencyKey: `key-${name}` } });
      const first = await call("echo");
      const retry = await call("echo");
      expect(retry._meta?.[REPLAYED_META]).toBe(true);
      expect(retry.content).toEqual(first.content);
      expect((await rpcError(call("explode"))).message).toContain("the handler failed");
      await rpcError(call("explode"));
      expect(runs).toBe(3);
    },
  );
});

describe("guardTools with its store down", () => {
  it("answers a fixed message that names no host, port or driver, and does not run the tool", async () => {
    const port = await freePort();
    vi.spyOn(console, "error").mockImplementation(() => {});
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const store = new RedisStore({ url: `redis://127.0.0.1:${port}`, timeout: 300 });
    const tools = paymentsTools(createIdempotency({ store }));
    const served = await serveMcp(tools.make, { mode: "stateless", json: true });
    const client = await httpClient(served.url);
    open.push(served, client);
    const error = await rpcError(
      client.callTool({ name: "create_charge", arguments: { amount: 1 }, _meta: { idempotencyKey: "down-1" } }),
    );
    expect(error.code).toBe(-32603);
    expect(error.message).toBe("MCP error -32603: The idempotency store is unavailable; retry after 1 second.");
    expect(error.data).toEqual({ type: "urn:oncely:problem:store-unavailable", status: 503, retryAfter: 1 });
    for (const internal of ["ECONNREFUSED", "127.0.0.1", String(port), "[redis]"]) {
      expect(JSON.stringify({ message: error.message, data: error.data })).not.toContain(internal);
    }
    expect(tools.effects.charges).toHaveLength(0);
    await store.close();
  });
});
