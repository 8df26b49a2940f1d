/**
 * An agent that calls `create_charge` and loses the first answer, as a dropped connection would lose it after the
 * server charged: `npx tsx examples/mcp/agent.ts [http://127.0.0.1:3007/mcp]`. The retry carries the same
 * idempotency key, so the server answers it with the stored result instead of charging again.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { createToolCaller, idempotencyInfo } from "../../src/mcp/index.js";

const url = new URL(process.argv[2] ?? process.env.MCP_URL ?? "http://127.0.0.1:3007/mcp");

/** fetch, except that the answer to the first tools/call is read and thrown away: the server ran it, we never see it. */
let answersToLose = 1;
const lossyFetch: typeof fetch = async (input, init) => {
  const response = await fetch(input, init);
  if (answersToLose > 0 && typeof init?.body === "string" && init.body.includes('"tools/call"')) {
    answersToLose -= 1;
    await response.text();
    console.log("agent: the connection dropped before the answer arrived (simulated)");
    throw new TypeError("fetch failed");
  }
  return response;
};

const client = new Client({ name: "demo-agent", version: "1.0.0" });
await client.connect(new StreamableHTTPClientTransport(url, { fetch: lossyFetch }));
console.log(
  `agent: connected; the server honours keys: ${"oncely/idempotency" in (client.getServerCapabilities()?.experimental ?? {})}`,
);

const callTool = createToolCaller(client, {
  onRetry: ({ attempt, delay, key }) =>
    console.log(`agent: attempt ${attempt} failed; retrying in ${delay} ms with key ${key}`),
});
const result = await callTool({ name: "create_charge", arguments: { amount: 1999, currency: "eur" } });
const info = idempotencyInfo(result)!;
console.log(
  `agent: ${JSON.stringify(result.structuredContent)} (replayed: ${info.replayed}, attempts: ${info.attempts})`,
);

const charges = await callTool({ name: "list_charges" });
console.log(
  `agent: the server lists ${(charges.structuredContent as { charges: unknown[] }).charges.length} charge(s)`,
);
await client.close();
