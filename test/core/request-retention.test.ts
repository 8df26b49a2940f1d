import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import type { GuardInput } from "../../src/adapter/index.js";
import { createIdempotency, type IdempotencyContext, MemoryStore, type RouteGuard } from "../../src/index.js";

// A framework's request object (Hono's Context, the IncomingMessage, its parser) must become garbage when the request
// ends: if the engine kept it reachable past finish/abandon (a timer's closure, the handler's context, an event), it
// would outlive the young generation on every request. The engine and the handler's context are kept alive here, as
// a server keeps them; only the request is let go.
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/** True once `ref`'s target is collected; a WeakRef's target lives at least until the current task ends. */
async function collected(ref: WeakRef<object>): Promise<boolean> {
  for (let attempt = 0; attempt < 5 && ref.deref() !== undefined; attempt++) {
    await new Promise((resolve) => setImmediate(resolve));
    gc();
  }
  return ref.deref() === undefined;
}

const body = new TextEncoder().encode('{"amount":1}');
const response = { status: 201, headers: [["content-type", "application/json"]] as [string, string][], body };

function request(key: string): { input: GuardInput; raw: WeakRef<object> } {
  const raw = { framework: "request", buffer: new Uint8Array(64 * 1024) };
  const input: GuardInput = {
    method: "POST",
    path: "/charges",
    query: "",
    headers: { "idempotency-key": key, "content-type": "application/json" },
    body,
    raw,
  };
  return { input, raw: new WeakRef(raw) };
}

type Ending = "finish" | "abandon" | "keep";

/**
 * One request as an adapter serves it; returns only a weak reference to its framework object (and the handler's
 * context, which a handler may keep), so that nothing here holds the request once it is answered.
 */
async function serve(
  guard: RouteGuard,
  key: string,
  ending: Ending,
): Promise<{ raw: WeakRef<object>; action: string; context?: IdempotencyContext; end?: () => Promise<unknown> }> {
  const { input, raw } = request(key);
  const decision = await guard.begin(input);
  if (decision.action !== "execute") return { raw, action: decision.action };
  if (ending === "finish") await decision.finish(response);
  if (ending === "abandon") await decision.abandon(new Error("the handler failed"));
  const end = ending === "keep" ? () => decision.finish(response) : undefined;
  return { raw, action: decision.action, context: decision.context, end };
}

describe("the engine lets go of the request", () => {
  const store = new MemoryStore();
  const events: unknown[] = [];
  const idem = createIdempotency({
    store,
    lease: 60,
    scope: (req) => (req.raw as { framework: string }).framework,
    onEvent: (event) => events.push(event),
  });
  const guard = idem.route();
  const kept: IdempotencyContext[] = [];

  it("after finish, with the handler's context still held", async () => {
    // Lease renewals tick every 20 ms while a claim is held; they must not hold the request either.
    const served = await serve(guard, "retention-finish", "finish");
    expect(served.action).toBe("execute");
    kept.push(served.context!);
    expect(await collected(served.raw)).toBe(true);
  });

  it("after abandon", async () => {
    const served = await serve(guard, "retention-abandon", "abandon");
    expect(served.action).toBe("execute");
    kept.push(served.context!);
    expect(await collected(served.raw)).toBe(true);
  });

  it("after a replay and a refusal", async () => {
    const replay = await serve(guard, "retention-finish", "finish");
    expect(replay.action).toBe("respond");
    const holder = await serve(guard, "retention-held", "keep");
    const conflict = await serve(guard, "retention-held", "finish");
    expect(conflict.action).toBe("respond");
    expect(await collected(replay.raw)).toBe(true);
    expect(await collected(conflict.raw)).toBe(true);
    await holder.end?.();
  });

  it("(the check sees a request that is still held)", async () => {
    const served = await serve(guard, "retention-control", "keep");
    expect(served.action).toBe("execute");
    expect(await collected(served.raw)).toBe(false);
    await served.end?.();
    expect(events.length).toBeGreaterThan(0);
  });
});
