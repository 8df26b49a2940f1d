import { describe, expect, it } from "vitest";
import { createIdempotency, type GuardInput, MemoryStore, type RouteOptions } from "../../src/index.js";

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

  it("throws a TypeError naming the option for anything else, on the request", async () => {
    for (const value of [undefined, null, "", {}, [], true, Number.NaN, Number.POSITIVE_INFINITY, Symbol("s")]) {
      const guard = idem.route({ scope: () => value as string });
      const refused = guard.begin(request("bad"));
      await expect(refused, String(value)).rejects.toThrow(TypeError);
      await expect(refused).rejects.toThrow(/Expected `scope` to return a string, number or bigint/);
    }
    await expect(idem.route({ scope: async () => undefined as never }).begin(request("bad"))).rejects.toThrow(
      /it returned undefined.*request\.raw/s,
    );
  });
});
