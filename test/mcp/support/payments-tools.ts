import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import type { Idempotency } from "../../../src/index.js";
import { type GuardToolsOptions, guardTools, idempotencyContext } from "../../../src/mcp/index.js";

/** What the tools did, for the tests to count: one entry per effect. */
export interface Effects {
  charges: { id: string; amount: number; scope?: string; derived?: string }[];
  failures: number;
  declines: number;
}

/**
 * A guarded McpServer factory with a payments tool (`create_charge`), one that throws (`flaky_refund`) and one that
 * answers `isError: true` (`decline`). Every server it makes shares `effects`, as one process's servers share a
 * database.
 */
export function paymentsTools(
  idempotency: Idempotency,
  options: Omit<GuardToolsOptions, "idempotency"> & { delay?: number } = {},
) {
  const { delay = 0, ...guard } = options;
  const effects: Effects = { charges: [], failures: 0, declines: 0 };
  const make = () => {
    const server = new McpServer({ name: "payments", version: "1.0.0" });
    guardTools(server, { idempotency, keyArgument: "idempotency_key", ...guard });
    server.registerTool(
      "create_charge",
      {
        inputSchema: {
          amount: z.number().int().positive(),
          currency: z.string().optional(),
          idempotency_key: z.string().optional(),
        },
        outputSchema: { id: z.string(), amount: z.number() },
      },
      async ({ amount }, extra) => {
        const id = `ch_${effects.charges.length + 1}`;
        const context = idempotencyContext(extra);
        effects.charges.push({ id, amount, scope: context?.scope, derived: context?.deriveKey("psp") });
        if (delay) await new Promise((resolve) => setTimeout(resolve, delay));
        return { content: [{ type: "text", text: `charged ${amount} as ${id}` }], structuredContent: { id, amount } };
      },
    );
    server.registerTool("flaky_refund", { inputSchema: { charge: z.string() } }, async () => {
      effects.failures += 1;
      throw new Error("the payment provider timed out");
    });
    server.registerTool("decline", { inputSchema: { amount: z.number() } }, async ({ amount }) => {
      effects.declines += 1;
      return { content: [{ type: "text", text: `card declined for ${amount}` }], isError: true };
    });
    return server;
  };
  return { make, effects };
}
