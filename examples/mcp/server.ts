/**
 * A payments MCP server whose tools run once per idempotency key: `npx tsx examples/mcp/server.ts`, then
 * `npx tsx examples/mcp/agent.ts` (an agent whose first answer is lost, and that retries). Streamable HTTP on
 * http://127.0.0.1:3007/mcp (`PORT` to change it); oncely's records and the charges share one SQLite file
 * (`ONCELY_MCP_DB`, default ./oncely-mcp.db). `GET /stats` answers `{"charges": <charges made so far>}`.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { z } from "zod";
import { createIdempotency } from "../../src/index.js";
import { guardTools, idempotencyContext } from "../../src/mcp/index.js";
import { SqliteStore } from "../../src/stores/sqlite/index.js";
import { openLedger } from "./charges.js";

const databasePath = process.env.ONCELY_MCP_DB ?? "./oncely-mcp.db";
const ledger = await openLedger(databasePath);
const idem = createIdempotency({
  store: new SqliteStore({ database: ledger.database }),
  onEvent: (event) => console.log(`  [oncely] ${event.type.padEnd(9)} ${event.route} key=${event.key ?? "-"}`),
});
await idem.ready();

/** One server per request (stateless Streamable HTTP): any process sharing the SQLite file can answer a retry. */
function paymentsServer(): McpServer {
  const server = new McpServer({ name: "payments", version: "1.0.0" });
  // Before the tools: every tool registered after this runs once per (caller, key).
  guardTools(server, { idempotency: idem, keyArgument: "idempotency_key" });

  server.registerTool(
    "create_charge",
    {
      description: "Charge a card. Send an idempotency key (params._meta.idempotencyKey) and reuse it on retries.",
      inputSchema: {
        amount: z.number().int().positive().describe("amount in cents"),
        currency: z.string().default("eur"),
        idempotency_key: z.string().optional().describe("for clients that cannot set _meta"),
      },
      outputSchema: { id: z.string(), amount: z.number(), currency: z.string() },
    },
    async ({ amount, currency }, extra) => {
      // The payment provider's own key, the same on every retry of this call: derived, never the caller's key.
      const pspKey = idempotencyContext(extra)?.deriveKey("psp-charge");
      await new Promise((resolve) => setTimeout(resolve, 200)); // the provider's round trip
      const charge = ledger.add(amount, currency);
      console.log(
        `  charged ${amount} ${currency} as ${charge.id} (provider key ${pspKey?.slice(0, 12) ?? "none"}...)`,
      );
      return {
        content: [{ type: "text", text: `Charged ${amount} ${currency}: ${charge.id}` }],
        structuredContent: { id: charge.id, amount, currency },
      };
    },
  );

  server.registerTool(
    "list_charges",
    { description: "List the charges made so far.", annotations: { readOnlyHint: true } },
    async () => {
      const charges = ledger.list();
      return { content: [{ type: "text", text: JSON.stringify(charges) }], structuredContent: { charges } };
    },
  );
  return server;
}

const http = createServer(async (request, response) => {
  const path = new URL(request.url ?? "/", "http://localhost").pathname;
  if (request.method === "GET" && path === "/stats") {
    response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ charges: ledger.count() }));
    return;
  }
  if (path !== "/mcp") {
    response.writeHead(404).end();
    return;
  }
  const server = paymentsServer();
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
  response.on("close", () => void server.close());
  await server.connect(transport);
  await transport.handleRequest(request, response);
});

http.listen(Number(process.env.PORT ?? 3007), "127.0.0.1", () => {
  const origin = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  console.log(`oncely MCP demo: payments tools on ${origin}/mcp (records and charges in ${databasePath})

  npx tsx examples/mcp/agent.ts ${origin}/mcp   an agent that loses its first answer and retries
  curl -s ${origin}/stats                        the charges made so far
`);
});

const shutdown = () => {
  http.close(async () => {
    await idem.close();
    ledger.database.close();
  });
  http.closeAllConnections();
};
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
