import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { CallToolRequest, CallToolResult, ServerCapabilities } from "@modelcontextprotocol/sdk/types.js";
import { AttemptTimeoutError } from "../client/errors.js";
import { recordInfo } from "../client/info.js";
import { createKeyResolver } from "../client/key-resolver.js";
import { type CallOptions, type RetryOptions, resolveRetryOptions, withCallOverrides } from "../client/options.js";
import type { AttemptOutcome } from "../client/policy.js";
import { retryCall } from "../client/retry-call.js";
import { sleep } from "../client/signals.js";
import { errorOutcome, resultOutcome } from "./client-outcome.js";
import { CAPABILITY } from "./wire.js";

/**
 * Options of `createToolCaller`: `oncely/client`'s retry options (`retries`, `backoff`, `deadline`, `timeout`,
 * `onRetry`, `keyStore`, `generateKey`), plus how to connect again. `onRetry` gets the JSON-RPC error that asked for
 * the retry (a call still running, a store down) as `response`, or the transport's error as `error`.
 */
export interface ToolCallerOptions extends Omit<RetryOptions<Error>, "header" | "methods"> {
  /**
   * Connects the client again when it lost its connection (a stdio server that exited, a Streamable HTTP session the
   * server no longer knows), before the next attempt. Without it, such a call ends with the connection's error.
   * @example reconnect: (client) => client.connect(new StdioClientTransport({ command: "node", args: ["server.js"] }))
   */
  reconnect?: (client: Client) => Promise<void>;
}

/** Per-call options: the key (`idempotencyKey`, `intent`), this call's limits, and an abort signal. */
export interface ToolCallOptions extends CallOptions {
  /** Aborts the call (no further attempt is made). */
  signal?: AbortSignal;
}

/** Calls a tool as one logical call, whatever number of attempts it takes. */
export type CallTool = (params: CallToolRequest["params"], options?: ToolCallOptions) => Promise<CallToolResult>;

/** Why an attempt was given up on: the transport reported an error, so its answer may never come. */
class AnswerLostError extends Error {
  override readonly name = "AnswerLostError";
}

/**
 * Makes `client.callTool` safe to retry: each logical call gets one idempotency key (in `params._meta.idempotencyKey`),
 * sent on every attempt, across reconnects. An attempt is retried only when the server says it honours keys (it
 * advertises `capabilities.experimental["oncely/idempotency"]`, or `tools.idempotency`), and only when retrying can
 * help, by `oncely/client`'s rules: no answer (a dropped connection, a lost stream, a timeout), a call still running,
 * a store down, a server error. A tool result is final, `isError` included; a replay is marked
 * `_meta["oncely/replayed"]: true`, and `idempotencyInfo(result)` says which key it used and how many attempts it took.
 *
 * @throws IdempotencyRequestError the server refused the key itself (reused with other arguments, malformed)
 * @throws RetryDeadlineError the call's `deadline` passed
 * @throws RetriesExhaustedError every attempt failed without an answer
 * @example
 * const callTool = createToolCaller(client, { retries: 5 });
 * const result = await callTool({ name: "create_charge", arguments: { amount: 1000 } });
 */
export function createToolCaller(client: Client, options: ToolCallerOptions = {}): CallTool {
  const { reconnect, ...retryOptions } = options;
  if (reconnect !== undefined && typeof reconnect !== "function") {
    throw new TypeError("Expected `reconnect` to be a function that connects the client again");
  }
  const settings = resolveRetryOptions<Error>({ ...retryOptions, methods: ["tools/call"] });
  const resolveKey = createKeyResolver(settings);
  /** Gives up on the running attempts: the transport failed, and an answer on it may never come. */
  const running = new Set<(reason: AnswerLostError) => void>();
  const watched = new WeakSet<Transport>();

  function watch(transport: Transport): void {
    if (watched.has(transport)) return;
    watched.add(transport);
    // The Streamable HTTP transport reports a response stream cut after its headers only here: the request itself
    // would wait for its timeout. A retry with the same key is safe, so the attempts running when the transport
    // failed are given up on; a task later, so that a request the failure rejects by itself ends with its own error.
    const previous = transport.onerror;
    transport.onerror = (error) => {
      previous?.call(transport, error);
      const affected = [...running];
      setTimeout(() => {
        for (const giveUp of affected) giveUp(new AnswerLostError(`The connection failed: ${error.message}`));
      }, 0);
    };
  }

  return async function callTool(params, callOptions = {}) {
    const { signal } = callOptions;
    const callSettings = withCallOverrides(settings, callOptions);
    const given = params._meta?.idempotencyKey;
    const key = await resolveKey("TOOLS/CALL", typeof given === "string" ? given : undefined, callOptions);
    const request = key === undefined ? params : { ...params, _meta: { ...params._meta, idempotencyKey: key } };
    let lastError: unknown;
    let call: ReturnType<typeof retryCall<Error>> | undefined;

    for (;;) {
      if (!client.transport) {
        if (!reconnect) throw lastError ?? new TypeError("Connect the MCP client before calling tools");
        try {
          await reconnect(client);
        } catch (error) {
          lastError = error;
        }
      }
      // The policy knows the key only when the server honours keys: retrying a call it would run again is not safe.
      call ??= retryCall<Error>(callSettings, "TOOLS/CALL", honoursKeys(client) ? key : undefined, callOptions.intent);
      call.beginAttempt();
      // The attempt's parent signal: the caller's, or the transport failing under it (see `watch`).
      const parent = new AbortController();
      const follow = () => parent.abort(signal?.reason);
      if (signal?.aborted) follow();
      else signal?.addEventListener("abort", follow, { once: true });
      const giveUp = (reason: AnswerLostError) => parent.abort(reason);
      const attempt = call.attemptSignal(parent.signal);
      let outcome: AttemptOutcome;
      let result: CallToolResult | undefined;
      try {
        const transport = client.transport;
        if (!transport) throw lastError ?? new TypeError("The MCP client did not connect");
        watch(transport);
        running.add(giveUp);
        result = (await client.callTool(request, undefined, {
          signal: attempt.signal,
          // The SDK's own timeout (60 s by default) is kept out of the way: the attempt's signal is the timeout.
          timeout: 2_147_483_647,
        })) as CallToolResult;
        outcome = resultOutcome(result);
      } catch (error) {
        const { aborted, reason } = attempt.signal;
        if (aborted && !(reason instanceof AttemptTimeoutError || reason instanceof AnswerLostError)) throw reason;
        lastError = aborted ? reason : error;
        outcome = errorOutcome(lastError);
        if (isExpiredSession(lastError, client)) await client.close().catch(() => {});
      } finally {
        running.delete(giveUp);
        signal?.removeEventListener("abort", follow);
        attempt.settle(false);
      }
      const failure = outcome.response && result === undefined ? (lastError as Error) : undefined;
      const delay = await call.next(outcome, failure, lastError);
      if (delay === undefined) {
        if (result === undefined) throw lastError;
        recordInfo(result, call.info(outcome));
        return result;
      }
      await sleep(delay, signal);
    }
  };
}

/** True when the server says it honours idempotency keys on `tools/call`. */
function honoursKeys(client: Client): boolean {
  const capabilities = client.getServerCapabilities() as
    | (ServerCapabilities & { tools?: { idempotency?: unknown } })
    | undefined;
  return capabilities?.experimental?.[CAPABILITY] !== undefined || capabilities?.tools?.idempotency !== undefined;
}

/** A Streamable HTTP session the server no longer knows (it restarted): the client must initialize a new one. */
function isExpiredSession(error: unknown, client: Client): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return code === 404 && client.transport?.sessionId !== undefined;
}
