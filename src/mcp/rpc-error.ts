import type { OncelyError } from "../core/errors.js";

/** JSON-RPC 2.0's code for a request whose parameters are wrong: a bad, missing or reused key, or one spent. */
export const INVALID_PARAMS = -32602;
/** JSON-RPC 2.0's code for an error of the server: a call still running, a store that did not answer. */
export const INTERNAL_ERROR = -32603;

/** What an oncely error's JSON-RPC `data` carries: the same facts its problem+json body gives over HTTP. */
export interface ToolCallErrorData {
  /** The problem type, one per case (`urn:oncely:problem:fingerprint-mismatch`, ...): match on it. */
  type: string;
  /** The HTTP status the same refusal gets over HTTP (409 in flight, 422 reused key, 503 store down, ...). */
  status: number;
  /** Seconds after which a retry can succeed, when one can. */
  retryAfter?: number;
}

/**
 * The JSON-RPC error a guarded `tools/call` answers with. Not an `McpError`: the SDK's error prefixes its message with
 * "MCP error <code>:", and the client's would prefix it again. The SDK sends `code`, `message` and `data` as they are.
 */
export class ToolCallError extends Error {
  /** Always `"ToolCallError"`, the class name, so logs and stack traces say which error it is. */
  override readonly name = "ToolCallError";
  /** The JSON-RPC error code: `INVALID_PARAMS` or `INTERNAL_ERROR`. */
  readonly code: number;
  /** What the refusal was, for a client to act on. */
  readonly data?: ToolCallErrorData;

  constructor(code: number, message: string, data?: ToolCallErrorData) {
    super(message);
    this.code = code;
    this.data = data;
  }
}

/**
 * The JSON-RPC error for an oncely refusal. The message is the error's `detail`, written for the client (never a host,
 * port or driver message). A refusal of the call's own parameters (400, 422) is `InvalidParams`, and so is a key whose
 * outcome is gone (410: a retry cannot succeed); the others are the server's state (in flight, store down) and say so
 * with `InternalError` and `data.retryAfter`.
 */
export function toolCallErrorFor(error: OncelyError, message: string = error.detail): ToolCallError {
  const data: ToolCallErrorData = { type: error.type, status: error.status };
  if (error.retryAfter !== undefined) data.retryAfter = error.retryAfter;
  const code = error.status === 400 || error.status === 410 || error.status === 422 ? INVALID_PARAMS : INTERNAL_ERROR;
  return new ToolCallError(code, message, data);
}
