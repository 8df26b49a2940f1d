import type { ProblemDetails } from "../client/errors.js";
import type { AttemptOutcome, ResponseFacts } from "../client/policy.js";
import { INTERNAL_ERROR, type ToolCallErrorData } from "./rpc-error.js";
import { REPLAYED_META } from "./wire.js";

/**
 * One MCP attempt's outcome in the terms of `oncely/client`'s policy, so an agent's tool calls are retried by the same
 * rules as its HTTP calls: a tool result is a 200 (a replay marked as one); a JSON-RPC error from oncely carries the
 * HTTP status of the same refusal in `data.status` (409 still running, 422 reused key, 503 store down); the SDK's own
 * "no answer" errors (timeout, connection closed) and transport failures are attempts that got no response.
 */

/** The SDK's code for a connection that closed before the answer came (raised on the client, never sent). */
const CONNECTION_CLOSED = -32000;
/** The SDK's code for a request that timed out on the client. */
const REQUEST_TIMEOUT = -32001;

/** The outcome of an attempt that answered with a result. */
export function resultOutcome(result: { _meta?: Record<string, unknown> }): AttemptOutcome {
  const replayed = result._meta?.[REPLAYED_META] === true;
  return { response: facts(200, replayed ? { "idempotent-replayed": "true" } : {}) };
}

/** The outcome of an attempt that failed with `error`: a JSON-RPC error answer, or no answer at all. */
export function errorOutcome(error: unknown): AttemptOutcome {
  const { code, data, message } = (error ?? {}) as { code?: unknown; data?: unknown; message?: string };
  if (isOncelyData(data)) {
    const headers: Record<string, string> = {};
    if (data.retryAfter !== undefined) headers["retry-after"] = String(data.retryAfter);
    const problem: ProblemDetails = { type: data.type, detail: message, body: data };
    return { response: facts(data.status, headers, problem) };
  }
  if (typeof code !== "number") return { error };
  // JSON-RPC codes are negative: the SDK's own "no answer" codes, or the server's answer (`McpError` and its
  // subclasses, such as the one for a URL elicitation the user must complete).
  if (code < 0) {
    if (code === CONNECTION_CLOSED || code === REQUEST_TIMEOUT) return { error };
    // A server error (a tool that threw on a low-level Server) is a 500; anything else the server said is final.
    return { response: facts(code === INTERNAL_ERROR ? 500 : 400) };
  }
  // The Streamable HTTP transport's error for an HTTP status; 404 is an expired session, which a reconnect renews.
  if (code >= 400 && code <= 599 && code !== 404) return { response: facts(code) };
  return { error };
}

/** True for the `data` of a JSON-RPC error oncely answered with. */
function isOncelyData(data: unknown): data is ToolCallErrorData {
  const { type, status } = (data ?? {}) as Partial<ToolCallErrorData>;
  return typeof type === "string" && type.startsWith("urn:oncely:problem:") && typeof status === "number";
}

function facts(status: number, headers: Record<string, string> = {}, problem?: ProblemDetails): ResponseFacts {
  return { status, header: (name) => headers[name], problem };
}
