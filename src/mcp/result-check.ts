import type { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { Protocol } from "@modelcontextprotocol/sdk/shared/protocol.js";
import {
  CallToolRequestSchema,
  CallToolResultSchema,
  CreateTaskResultSchema,
  ErrorCode,
  McpError,
} from "@modelcontextprotocol/sdk/types.js";

/**
 * The SDK's `Server.setRequestHandler` wraps a `tools/call` handler in two zod validations on every call: the request
 * again (the protocol layer below has just parsed it with the same schema) and the result. Together they are about a
 * fifth of a call's CPU, and a replay needs neither: its result was validated before it was stored. So the guard
 * installs its `tools/call` handler one level down, with the protocol layer's public `setRequestHandler` (which still
 * parses the request with the schema), and validates results itself, as the SDK would, every result but a replay's.
 */

/** A `tools/call` handler as the protocol layer calls it. */
type RequestHandler = (request: never, extra: never) => unknown;

/**
 * Installs `handler` for `tools/call` below the SDK's result check, and returns true; false (nothing installed) when
 * the schema is not the SDK's own `CallToolRequestSchema` (whose parse by the protocol layer is the request check
 * skipped), or the server is not an instance of this copy of the SDK (one loaded both as ESM and CommonJS): the
 * caller then installs it the usual way.
 */
export function installBelowResultCheck(server: Server, schema: unknown, handler: RequestHandler): boolean {
  if (schema !== CallToolRequestSchema || !(server instanceof Protocol)) return false;
  Protocol.prototype.setRequestHandler.call(server, CallToolRequestSchema, handler as never);
  return true;
}

/**
 * `result` as the SDK's `tools/call` wrapper would answer it: validated as a `CallToolResult`, or a `CreateTaskResult`
 * for a task-augmented call, defaults applied.
 * @throws {McpError} `InvalidParams`, with the SDK's message, when the result is not one
 */
export function checkedToolResult(result: unknown, task: boolean): unknown {
  const checked = (task ? CreateTaskResultSchema : CallToolResultSchema).safeParse(result);
  if (checked.success) return checked.data;
  throw new McpError(
    ErrorCode.InvalidParams,
    `${task ? "Invalid task creation result" : "Invalid tools/call result"}: ${checked.error.message}`,
  );
}
