import { StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ErrorCode, McpError, UrlElicitationRequiredError } from "@modelcontextprotocol/sdk/types.js";
import { describe, expect, it } from "vitest";
import { judge } from "../../src/client/policy.js";
import { errorOutcome, resultOutcome } from "../../src/mcp/client-outcome.js";
import { INTERNAL_ERROR, INVALID_PARAMS, ToolCallError } from "../../src/mcp/rpc-error.js";

// Each outcome a tool call can have, as the SDK's client raises it, and the verdict of oncely/client's policy on it
// for a keyed call: what createToolCaller retries.
const verdict = (outcome: ReturnType<typeof errorOutcome>) => judge(outcome, "TOOLS/CALL", true).verdict;
const answered = (error: ToolCallError) => new McpError(error.code, error.message, error.data);

describe("an MCP attempt's outcome under oncely/client's retry policy", () => {
  it("retries what got no answer: a closed connection, a timeout, a transport failure, an expired session", () => {
    expect(verdict(errorOutcome(new McpError(ErrorCode.ConnectionClosed, "Connection closed")))).toBe("retry");
    expect(verdict(errorOutcome(new McpError(ErrorCode.RequestTimeout, "Request timed out")))).toBe("retry");
    expect(verdict(errorOutcome(new TypeError("fetch failed")))).toBe("retry");
    expect(verdict(errorOutcome(new StreamableHTTPError(404, "Session not found")))).toBe("retry");
  });

  it("retries oncely's in-flight and store errors, after the Retry-After they carry", () => {
    const inFlight = answered(
      new ToolCallError(INTERNAL_ERROR, "still running", {
        type: "urn:oncely:problem:in-flight",
        status: 409,
        retryAfter: 2,
      }),
    );
    expect(judge(errorOutcome(inFlight), "TOOLS/CALL", true, 0)).toEqual({ verdict: "retry", retryAfter: 2000 });
    const down = answered(
      new ToolCallError(INTERNAL_ERROR, "store down", { type: "urn:oncely:problem:store-unavailable", status: 503 }),
    );
    expect(verdict(errorOutcome(down))).toBe("retry");
    expect(verdict(errorOutcome(new StreamableHTTPError(503, "Service Unavailable")))).toBe("retry");
    expect(verdict(errorOutcome(new McpError(ErrorCode.InternalError, "the handler failed")))).toBe("retry");
  });

  it("stops on a refused key, and returns any other answer of the server as final", () => {
    const reused = answered(
      new ToolCallError(INVALID_PARAMS, "reused", { type: "urn:oncely:problem:fingerprint-mismatch", status: 422 }),
    );
    expect(verdict(errorOutcome(reused))).toBe("rejected");
    expect(verdict(errorOutcome(new McpError(ErrorCode.InvalidParams, "Tool nope not found")))).toBe("final");
    expect(verdict(errorOutcome(new UrlElicitationRequiredError([])))).toBe("final");
    expect(verdict(errorOutcome(new StreamableHTTPError(401, "Unauthorized")))).toBe("final");
    expect(verdict(resultOutcome({ content: [], isError: true } as never))).toBe("final");
    expect(resultOutcome({ _meta: { "oncely/replayed": true } }).response?.header("idempotent-replayed")).toBe("true");
  });
});
