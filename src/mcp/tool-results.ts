import type { IdempotencyContext } from "../core/context.js";

/**
 * What ties a call's pieces together. McpServer turns a tool that throws (and arguments that fail its schema, and an
 * unknown tool) into an `isError` result of its own, indistinguishable on the wire from one the tool returned. Only
 * the tool's own results are outcomes to keep: so each tool callback is wrapped to remember the result objects it
 * returned, and the guard stores a result only when it is one of them.
 */
const toolResults = new WeakSet<object>();

/** The idempotency context of each guarded call, keyed by the `extra` object the SDK passes the tool. */
const contexts = new WeakMap<object, IdempotencyContext>();

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

/** True when `result` is an object a wrapped tool callback returned. */
export function returnedByTool(result: unknown): boolean {
  return typeof result === "object" && result !== null && toolResults.has(result);
}

/** Makes `context` the one `idempotencyContext(extra)` answers for this call. */
export function attachContext(extra: object, context: IdempotencyContext): void {
  contexts.set(extra, context);
}

/**
 * The idempotency context of the tool call `extra` belongs to (the second argument of a tool callback): its key,
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
export function idempotencyContext(extra: object): IdempotencyContext | undefined {
  return contexts.get(extra);
}
