/**
 * Tool calls from AI agents that run exactly once, on the official MCP SDK (`@modelcontextprotocol/sdk`): the server
 * guard (`guardTools`), the tool's idempotency context (`idempotencyContext`), and the agent's side
 * (`createToolCaller`), which sends one key per logical call and retries only what is safe.
 *
 * @module oncely/mcp
 */

export { type IdempotencyInfo, idempotencyInfo } from "../client/info.js";
export { type GuardToolsOptions, guardTools, type ToolCallExtra } from "./guard-tools.js";
export { INTERNAL_ERROR, INVALID_PARAMS, ToolCallError, type ToolCallErrorData } from "./rpc-error.js";
export { type CallTool, createToolCaller, type ToolCallerOptions, type ToolCallOptions } from "./tool-caller.js";
export { type CallExtra, idempotencyContext } from "./tool-results.js";
export { CAPABILITY, type IdempotencyCapability, KEY_META_FIELDS, REPLAYED_META } from "./wire.js";
