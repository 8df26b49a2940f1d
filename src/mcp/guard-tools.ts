import type { Server } from "@modelcontextprotocol/sdk/server/index.js";
import type { McpServer, RegisteredTool } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { RequestHandlerExtra } from "@modelcontextprotocol/sdk/shared/protocol.js";
import type {
  CallToolResult,
  CreateTaskResult,
  ServerNotification,
  ServerRequest,
} from "@modelcontextprotocol/sdk/types.js";
import { type Duration, toMilliseconds } from "../core/duration.js";
import type { Idempotency } from "../core/engine.js";
import { CheckFailedError, isOncelyError, MissingKeyError, type OncelyError } from "../core/errors.js";
import type { ScopeValue } from "../core/options.js";
import type { RunOptions } from "../core/run.js";
import { scopeText } from "../core/scope.js";
import { checkedToolResult, installBelowResultCheck } from "./result-check.js";
import { toolCallErrorFor } from "./rpc-error.js";
import { isCreatedTask, replayedTask } from "./task-replay.js";
import { readToolKey, type ToolCallParams } from "./tool-key.js";
import { attachContext, createdTask, rememberingResults, rememberingTasks, returnedByTool } from "./tool-results.js";
import { principalScope } from "./tool-scope.js";
import { CAPABILITY, type IdempotencyCapability, KEY_META_FIELDS, REPLAYED_META } from "./wire.js";

/** The `extra` argument the SDK gives a `tools/call` handler and every tool callback. */
export type ToolCallExtra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/** Options of `guardTools`. */
export interface GuardToolsOptions {
  /** The engine that keeps the records (`createIdempotency({ store })`); one may serve HTTP routes and MCP alike. */
  idempotency: Idempotency;
  /**
   * A tool argument that also carries the key, for clients that can fill arguments but not `_meta` (declare it in the
   * tool's input schema, e.g. `idempotency_key: z.string().optional()`). It is left out of the fingerprint.
   * @default undefined (keys come from `_meta` only)
   */
  keyArgument?: string;
  /**
   * The principal a call belongs to; keys are unique per scope, and one scope never sees another's results.
   * @default the authenticated caller (`extra.authInfo`: its `clientId`, and `sub`/`subject` from `authInfo.extra`);
   *   without auth, one scope shared by every caller
   */
  scope?: (extra: ToolCallExtra) => ScopeValue | Promise<ScopeValue>;
  /**
   * Tools whose calls must carry a key (`true`: every tool); one without gets an `InvalidParams` error and does not
   * run. Other calls without a key run unguarded.
   * @default false
   */
  requireKey?: boolean | readonly string[];
  /**
   * Whether a result the tool returned with `isError: true` is stored and replayed like any other result. It is an
   * outcome (the tool ran and answered). `false` releases the key instead, so a retry runs the tool again.
   * @default true
   */
  storeErrorResults?: boolean;
  /**
   * How long a call waits for another call with the same key that is still running, before it answers an error that
   * says to retry. Agents do not read Retry-After, so waiting is the default.
   * @default the engine's `waitTimeout` ("10s")
   */
  waitTimeout?: Duration;
  /** The claim's lease while a tool runs. @default the engine's `lease` ("30s") */
  lease?: Duration;
  /** How long a result is kept. @default the engine's `ttl` ("24h") */
  ttl?: Duration;
}

type ToolCallRequest = { method: string; params: ToolCallParams & { task?: unknown } };
type Handler = (request: ToolCallRequest, extra: ToolCallExtra) => unknown;

/**
 * Makes the server's tools run at most once per (scope, key): a `tools/call` carrying a key in
 * `params._meta.idempotencyKey` runs once, and every retry (a new JSON-RPC request, over any connection, to any
 * process sharing the store) gets the stored `CallToolResult`, marked `_meta["oncely/replayed"]: true`. The same key
 * with another tool or other arguments is refused with an `InvalidParams` error. A task-augmented call (`params.task`)
 * creates at most one task per key: its retry gets the same task handle, with the task's current status. Advertises
 * `capabilities.experimental["oncely/idempotency"]`. Inside a tool, `idempotencyContext(extra)` gives `step` and
 * `deriveKey`.
 *
 * Call it right after creating the server, before registering tools: it wraps each tool as it is registered.
 *
 * @param server an `McpServer`, or a low-level `Server` whose `tools/call` handler is set after this call
 * @throws {TypeError} when a tool is already registered or the server is connected, or an option is invalid
 * @example
 * const server = new McpServer({ name: "payments", version: "1.0.0" });
 * guardTools(server, { idempotency: createIdempotency({ store }) });
 * server.registerTool("create_charge", { inputSchema: { amount: z.number() } }, async ({ amount }) => charge(amount));
 */
export function guardTools(server: McpServer | Server, options: GuardToolsOptions): void {
  const settings = checkOptions(options);
  const mcp = isMcpServer(server) ? server : undefined;
  const lowLevel: Server = mcp ? mcp.server : (server as Server);
  try {
    lowLevel.assertCanSetRequestHandler("tools/call");
  } catch {
    throw new TypeError(
      "guardTools(server) must be called before the first tool is registered (and without `capabilities.tools` in " +
        "the McpServer's options): tools registered earlier would run unguarded",
    );
  }
  const capability: IdempotencyCapability = { meta: [...KEY_META_FIELDS], replayed: REPLAYED_META };
  if (settings.keyArgument !== undefined) capability.argument = settings.keyArgument;
  try {
    lowLevel.registerCapabilities({ experimental: { [CAPABILITY]: { ...capability } } });
  } catch {
    throw new TypeError("guardTools(server) must be called before the server connects to a transport");
  }
  if (mcp) wrapToolRegistration(mcp);
  const ownResult = (result: CallToolResult, extra: ToolCallExtra) =>
    createdTask(extra) || ((!mcp || returnedByTool(result)) && (settings.storeErrorResults || result.isError !== true));

  const setRequestHandler = lowLevel.setRequestHandler;
  lowLevel.setRequestHandler = function setGuardedRequestHandler(schema, handler) {
    const call = (request: ToolCallRequest, extra: ToolCallExtra) => guardedCall(handler as Handler, request, extra);
    // The SDK's own `tools/call` schema: installed below the SDK's result check (see result-check.ts).
    if (installBelowResultCheck(lowLevel, schema, call)) return;
    // Any other handler is wrapped, and only `tools/call` requests take the guard: the request names its method,
    // where the schema would have to be taken apart to find it.
    const guarded = (request: ToolCallRequest, extra: ToolCallExtra) =>
      request.method === "tools/call" ? call(request, extra) : (handler as Handler)(request, extra);
    return setRequestHandler.call(lowLevel, schema, guarded as typeof handler);
  } as Server["setRequestHandler"];

  async function guardedCall(handler: Handler, request: ToolCallRequest, extra: ToolCallExtra): Promise<unknown> {
    const { params } = request;
    // A task-augmented call answers with the handle of a task that runs on: that handle is the outcome kept.
    const task = params.task !== undefined;
    let keyed: ReturnType<typeof readToolKey>;
    try {
      keyed = readToolKey(params, settings.keyArgument);
    } catch (error) {
      throw refusal(error);
    }
    if (!keyed) {
      if (!settings.requires(params.name)) return checkedToolResult(await handler(request, extra), task);
      throw refusal(new MissingKeyError(`The tool ${params.name} must be called with ${keyWhere(settings)}`));
    }
    let scope: string | undefined;
    try {
      scope = options.scope ? scopeText(await options.scope(extra)) : principalScope(extra);
    } catch (error) {
      reportError(lowLevel, error);
      throw refusal(
        new CheckFailedError("The server could not check this call's idempotency key, and did not run it", {
          cause: error,
        }),
      );
    }
    let ran = false;
    let result: CallToolResult;
    try {
      result = await settings.idempotency.run<CallToolResult>(
        keyed.key,
        async (context) => {
          ran = true;
          attachContext(extra, context);
          const answer = (await handler(request, extra)) as CallToolResult;
          if (!(task ? isCreatedTask(answer) : ownResult(answer, extra))) context.skipStore();
          // Checked before it is stored, so a replay needs no check: a result the SDK refuses is answered with its
          // error and not kept, as when the tool throws (the SDK's own check, when it also runs, finds it valid).
          return checkedToolResult(answer, task) as CallToolResult;
        },
        {
          // Written out, not spread from `settings.run`: a spread per call was a tenth of the guard's own work.
          onInFlight: "wait",
          waitTimeout: settings.run.waitTimeout,
          lease: settings.run.lease,
          ttl: settings.run.ttl,
          scope,
          input: keyed.arguments,
          // A task's name differs from the plain call's: one key cannot be replayed as the other kind of answer.
          name: `tools/call ${params.name}${task ? " (task)" : ""}`,
        },
      );
      if (ran) return result;
      if (task)
        return checkedToolResult(await replayedTask(result as unknown as CreateTaskResult, extra.taskStore), true);
    } catch (error) {
      throw isOncelyError(error) ? refusal(error) : error;
    }
    // The engine parses the stored JSON afresh for each replay, so this copy is the call's own: marked, not cloned,
    // and not checked again (it was checked before it was stored; the mark is a `_meta` field like any other).
    result._meta ??= {};
    result._meta[REPLAYED_META] = true;
    return result;
  }
}

/** The JSON-RPC error for a refusal, in MCP's words (the engine's messages speak of headers and request bodies). */
function refusal(error: unknown): unknown {
  if (!isOncelyError(error)) return error;
  return toolCallErrorFor(error, MESSAGES[error.code] ?? (error as OncelyError).detail);
}

const MESSAGES: Record<string, string> = {
  fingerprint_mismatch:
    "This idempotency key was already used to call another tool or the same tool with other arguments; use a new key for a new call",
  in_flight: "A call with this idempotency key is still running; retry it with the same key in a moment",
};

interface Settings {
  idempotency: Idempotency;
  keyArgument: string | undefined;
  storeErrorResults: boolean;
  requires(tool: string): boolean;
  run: Pick<RunOptions, "waitTimeout" | "lease" | "ttl">;
}

function checkOptions(options: GuardToolsOptions): Settings {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(
      "Expected an options object with `idempotency`, e.g. { idempotency: createIdempotency({ store }) }",
    );
  }
  const { idempotency, keyArgument, scope, requireKey = false, storeErrorResults = true } = options;
  if (typeof idempotency?.run !== "function") {
    throw new TypeError("Expected `idempotency` to be an instance made by createIdempotency({ store })");
  }
  if (keyArgument !== undefined && (typeof keyArgument !== "string" || keyArgument === "")) {
    throw new TypeError('Expected `keyArgument` to be the name of a tool argument, such as "idempotency_key"');
  }
  if (scope !== undefined && typeof scope !== "function") throw new TypeError("Expected `scope` to be a function");
  if (typeof storeErrorResults !== "boolean") throw new TypeError("Expected `storeErrorResults` to be true or false");
  let requires: (tool: string) => boolean;
  if (typeof requireKey === "boolean") requires = () => requireKey;
  else if (Array.isArray(requireKey) && requireKey.every((name) => typeof name === "string")) {
    const names = new Set(requireKey);
    requires = (tool) => names.has(tool);
  } else throw new TypeError("Expected `requireKey` to be true, false or an array of tool names");
  const run: Settings["run"] = {};
  // Checked here so that a typo fails at setup, not on the first call.
  for (const name of ["waitTimeout", "lease", "ttl"] as const) {
    if (options[name] !== undefined) run[name] = toMilliseconds(options[name], name);
  }
  return { idempotency, keyArgument, storeErrorResults, requires, run };
}

/** Where a call's key goes, for the message of a call that needs one. */
function keyWhere({ keyArgument }: Settings): string {
  const meta = "an idempotency key in params._meta.idempotencyKey";
  return keyArgument === undefined ? meta : `${meta} or the argument ${keyArgument}`;
}

function isMcpServer(server: McpServer | Server): server is McpServer {
  return typeof (server as McpServer).registerTool === "function" && typeof (server as McpServer).server === "object";
}

/**
 * Wraps every tool callback registered from now on (`registerTool`, `tool`, the handler given to
 * `experimental.tasks.registerToolTask`, and a callback given to `update`).
 */
function wrapToolRegistration(mcp: McpServer): void {
  const wrapRegistered = (tool: RegisteredTool): RegisteredTool => {
    const update = tool.update;
    tool.update = (updates) =>
      update.call(
        tool,
        updates.callback === undefined ? updates : { ...updates, callback: remembering(updates.callback) },
      );
    return tool;
  };
  // A task tool's handler is an object (`createTask`, ...), and `update` takes one in place of a callback too.
  const remembering = <C>(callback: C): C =>
    (typeof callback === "function" ? rememberingResults(callback as never) : rememberingTasks(callback as never)) as C;
  const registerTool = mcp.registerTool;
  mcp.registerTool = ((name: string, config: object, callback: () => unknown) =>
    wrapRegistered(registerTool.call(mcp, name, config as never, rememberingResults(callback) as never))) as never;
  const tasks = mcp.experimental.tasks;
  const registerToolTask = tasks.registerToolTask;
  tasks.registerToolTask = ((name: string, config: object, handler: { createTask: () => unknown }) =>
    wrapRegistered(registerToolTask.call(tasks, name, config as never, rememberingTasks(handler) as never))) as never;
  const tool = mcp.tool;
  mcp.tool = ((name: string, ...rest: unknown[]) => {
    const callback = rest.pop() as () => unknown;
    return wrapRegistered(
      (tool as (...args: unknown[]) => never).call(mcp, name, ...rest, rememberingResults(callback)),
    );
  }) as never;
}

/** The cause of a refusal that is the server's fault goes to the server's own error hook, or the console. */
function reportError(server: Server, error: unknown): void {
  const cause = new Error("[oncely] [mcp] the `scope` function failed; the call was refused", { cause: error });
  if (server.onerror) server.onerror(cause);
  else console.error(cause);
}
