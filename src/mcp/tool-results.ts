import type { IdempotencyContext } from "../core/context.js";

/**
 * What ties a call's pieces together. McpServer turns a tool that throws (and arguments that fail its schema, and an
 * unknown tool) into an `isError` result of its own, indistinguishable on the wire from one the tool returned. Only
 * the tool's own results are outcomes to keep: so each tool callback is wrapped to remember the result objects it
 * returned, and the guard stores a result only when it is one of them.
 */
const toolResults = new WeakSet<object>();

/**
 * The idempotency context of each guarded call, keyed by the call's abort signal: the SDK hands a task tool's
 * `createTask` a copy of `extra`, and the signal is the one property every copy shares with the original.
 */
const contexts = new WeakMap<AbortSignal, IdempotencyContext>();

/** What the SDK hands a request handler and a tool, as far as finding the call's context goes. */
export interface CallExtra {
  /** The call's abort signal, by which its context is found. */
  signal: AbortSignal;
}

// biome-ignore lint/suspicious/noExplicitAny: a tool callback's arguments are whatever its schema makes them.
type Callback = (...args: any[]) => unknown;

/** `callback`, remembering the result objects it returns. */
export function rememberingResults<C extends Callback>(callback: C): C {
  if (typeof callback !== "function") return callback;
  return async function guardedTool(this: unknown, ...args: Parameters<C>) {
    const result = await callback.apply(this, args);
    if (typeof result === "object" && result !== null) toolResults.add(result);
    return result;
  } as C;
}

/** The calls whose task tool created a task (by their abort signal, as `contexts`). */
const taskCalls = new WeakSet<AbortSignal>();

/**
 * A task tool's handler (`registerToolTask`) whose `createTask` remembers the calls it created a task for. A call
 * without `params.task` to a tool with `taskSupport: "optional"` gets the task's final result, read from the task
 * store: once a task was created, that answer is the call's outcome, whatever it says, and a retry must not create
 * another task.
 */
export function rememberingTasks<H extends { createTask: Callback }>(handler: H): H {
  if (typeof handler?.createTask !== "function") return handler;
  const createTask = handler.createTask;
  // A new object on top of the handler, so its other methods (and their `this`) stay as they were.
  const remembering = Object.create(handler) as H;
  remembering.createTask = async function rememberingTask(this: unknown, ...args: unknown[]) {
    const result = await createTask.apply(this, args);
    const extra = args.at(-1) as Partial<CallExtra> | undefined;
    if (extra?.signal) taskCalls.add(extra.signal);
    return result;
  };
  return remembering;
}

/** True when a task tool created a task for the call `extra` belongs to. */
export function createdTask(extra: CallExtra): boolean {
  return taskCalls.has(extra.signal);
}

/** True when `result` is an object a wrapped tool callback returned. */
export function returnedByTool(result: unknown): boolean {
  return typeof result === "object" && result !== null && toolResults.has(result);
}

/** Makes `context` the one `idempotencyContext(extra)` answers for this call. */
export function attachContext(extra: CallExtra, context: IdempotencyContext): void {
  contexts.set(extra.signal, context);
}

/**
 * The idempotency context of the tool call `extra` belongs to (the last argument of a tool callback, or of a task
 * tool's `createTask`): its key,
 * `step` for recoverable steps, `deriveKey` for downstream calls, `recovered` after a takeover, `signal`. `undefined`
 * when the call carried no key, so the tool runs unguarded.
 *
 * @example
 * server.registerTool("create_charge", { inputSchema: { amount: z.number() } }, async ({ amount }, extra) => {
 *   const idempotency = idempotencyContext(extra);
 *   const charge = await psp.charge(amount, { idempotencyKey: idempotency?.deriveKey("charge") });
 *   return { content: [{ type: "text", text: charge.id }] };
 * });
 */
export function idempotencyContext(extra: CallExtra): IdempotencyContext | undefined {
  return contexts.get(extra.signal);
}
