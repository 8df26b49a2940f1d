// What a guarded MCP tool call costs, µs per call: the SDK's client and server over its in-memory transport (in
// process), then over stateless Streamable HTTP on a real socket; MemoryStore, one call at a time. Four ways,
// interleaved over 11 rounds (median printed), so load from other processes on the machine moves them alike:
//   - a tool that does nothing, on a server without oncely (the baseline);
//   - the same tool on a guarded server, called without a key (what the guard costs a call it passes through);
//   - a keyed call answered from its record (a retry: the tool does not run);
//   - a keyed call with a new key each time (a first execution: claim, run, store).
// Run: `npm run build && node bench/mcp.mjs` (the built package: under tsx, every dynamic import the engine makes
// goes through its loader hooks, which costs more than the call being measured).
import { once } from "node:events";
import { createServer } from "node:http";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { z } from "zod";
import { createIdempotency, MemoryStore } from "../dist/index.js";
import { guardTools } from "../dist/mcp/index.js";

const CALLS = Number(process.env.CALLS ?? 1000);
const ROUNDS = 11;

function makeServer(idempotency) {
  const server = new McpServer({ name: "bench", version: "1.0.0" });
  if (idempotency) guardTools(server, { idempotency });
  server.registerTool("noop", { inputSchema: { amount: z.number(), note: z.string() } }, async () => ({
    content: [{ type: "text", text: "done" }],
  }));
  return server;
}

/** A client of a server with the noop tool, guarded or not, in process or over stateless Streamable HTTP. */
async function connected(guarded, transport) {
  const idempotency = guarded ? createIdempotency({ store: new MemoryStore(), logger: false }) : undefined;
  const client = new Client({ name: "bench", version: "1.0.0" });
  if (transport === "in-process") {
    const [serverSide, clientSide] = InMemoryTransport.createLinkedPair();
    await makeServer(idempotency).connect(serverSide);
    await client.connect(clientSide);
    return { client, close: () => client.close() };
  }
  const http = createServer(async (request, response) => {
    const server = makeServer(idempotency);
    const serverTransport = new StreamableHTTPServerTransport({ enableJsonResponse: true });
    response.on("close", () => void server.close());
    await server.connect(serverTransport);
    await serverTransport.handleRequest(request, response);
  });
  http.listen(0, "127.0.0.1");
  await once(http, "listening");
  const url = new URL(`http://127.0.0.1:${http.address().port}/mcp`);
  await client.connect(new StreamableHTTPClientTransport(url));
  return {
    client,
    close: async () => {
      await client.close();
      http.closeAllConnections();
      http.close();
    },
  };
}

async function measure(transport, calls) {
  const plain = await connected(false, transport);
  const guarded = await connected(true, transport);
  let fresh = 0;
  const ways = [
    ["tool that does nothing, no oncely", () => plain.client.callTool({ name: "noop", arguments: args })],
    ["guarded server, call without a key", () => guarded.client.callTool({ name: "noop", arguments: args })],
    [
      "replayed call (same key)",
      () => guarded.client.callTool({ name: "noop", arguments: args, _meta: { idempotencyKey: "k" } }),
    ],
    [
      "first execution (new key)",
      () => guarded.client.callTool({ name: "noop", arguments: args, _meta: { idempotencyKey: `new-${fresh++}` } }),
    ],
  ];
  await ways[2][1]();
  for (const [, call] of ways) for (let i = 0; i < calls / 5; i++) await call(); // warm-up
  const samples = ways.map(() => []);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [index, [, call]] of ways.entries()) {
      const started = performance.now();
      for (let i = 0; i < calls; i++) await call();
      samples[index].push(((performance.now() - started) * 1000) / calls);
    }
  }
  const baseline = median(samples[0]);
  console.log(`MCP tools/call, ${transport}, MemoryStore, ${calls} calls x ${ROUNDS} rounds (median)`);
  for (const [index, [name]] of ways.entries()) {
    const us = median(samples[index]);
    console.log(`  ${name.padEnd(38)} ${us.toFixed(1).padStart(7)} µs/call  ${(us / baseline).toFixed(2)}x`);
  }
  await Promise.all([plain.close(), guarded.close()]);
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

const args = { amount: 1999, note: "a charge of about the size agents send" };
await measure("in-process transport", CALLS);
await measure("stateless Streamable HTTP (JSON answers)", Math.max(1, Math.round(CALLS / 5)));
