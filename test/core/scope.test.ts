import { describe, expect, it } from "vitest";
import type { GuardInput } from "../../src/adapter/index.js";
import { createIdempotency, type IdempotencyEvent, MemoryStore, type RouteOptions } from "../../src/index.js";

const request = (key: string): GuardInput => ({
  method: "POST",
  path: "/charges",
  query: "",
  headers: { "idempotency-key": key },
  body: undefined,
  raw: { user: { id: 42 } },
});

describe("scope", () => {
  const idem = createIdempotency({ store: new MemoryStore() });
  const scopeOf = async (scope: RouteOptions["scope"], key = "k") => {
    const decision = await idem.route({ scope }).begin(request(key));
    if (decision.action !== "execute") throw new Error(`expected to execute, got ${decision.action}`);
    await decision.finish({ status: 201, headers: [], body: new Uint8Array() });
    return decision.context.scope;
  };

  it("takes a string, a number or a bigint; a number is its decimal text", async () => {
    const hash = await scopeOf(() => "42", "string");
    expect(hash).toMatch(/^[\w-]{16}$/);
    expect(await scopeOf(() => 42, "number")).toBe(hash);
    expect(await scopeOf(() => 42n, "bigint")).toBe(hash);
    expect(await scopeOf(async (req) => (req.raw as { user: { id: number } }).user.id, "raw")).toBe(hash);
    expect(await scopeOf(() => 43, "other")).not.toBe(hash);
  });

  it("answers 500 check-failed for anything else, with a TypeError naming the option in the event", async () => {
    const events: IdempotencyEvent[] = [];
    const checked = createIdempotency({ store: new MemoryStore(), onEvent: (event) => events.push(event) });
    for (const value of [undefined, null, "", {}, [], true, Number.NaN, Number.POSITIVE_INFINITY, Symbol("s")]) {
      events.length = 0;
      const decision = await checked.route({ scope: () => value as string }).begin(request("bad"));
      expect(decision.action, String(value)).toBe("respond");
      if (decision.action !== "respond") continue;
      expect(decision.response.status).toBe(500);
      expect(new TextDecoder().decode(decision.response.body)).not.toMatch(/scope|TypeError/);
      const [event] = events;
      expect(event?.type).toBe("check-failed");
      expect(event?.error).toBeInstanceOf(TypeError);
      expect(String(event?.error)).toMatch(/Expected `scope` to return a string, number or bigint/);
    }
    events.length = 0;
    await checked.route({ scope: async () => undefined as never }).begin(request("bad"));
    expect(String(events[0]?.error)).toMatch(/it returned undefined.*request\.raw/s);
  });
});
