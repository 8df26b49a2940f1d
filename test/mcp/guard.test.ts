import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { createIdempotency, MemoryStore } from "../../src/index.js";
import { CAPABILITY, guardTools, REPLAYED_META } from "../../src/mcp/index.js";
import { httpClient, rpcError } from "./support/clients.js";
import { serveMcp } from "./support/http-server.js";
import { closedAfterEach } from "./support/opened.js";
import { paymentsTools } from "./support/payments-tools.js";

// The server guard over Streamable HTTP (stateless, one server per request, so every call is a new connection), with
// the SDK's own client: what an agent sees on the wire.
const open = closedAfterEach();

async function setUp(options: Parameters<typeof paymentsTools>[1] = {}, token?: string) {
  const idempotency = createIdempotency({ store: new MemoryStore(), logger: false });
  const tools = paymentsTools(idempotency, options);
  const served = await serveMcp(tools.make, {
    mode: "stateless",
    json: true,
    auth: (request) => {
      const bearer = request.headers.authorization?.replace(/^Bearer /, "");
      return bearer ? { token: bearer, clientId: "agent-app", scopes: [], extra: { sub: bearer } } : undefined;
    },
  });
  const connect = async (as = token) => {
    const client = await httpClient(served.url, as);
    open.push(client);
    return client;
  };
  open.push(served);
  return { ...tools, served, client: await connect(), connect };
}

const charge = (client: Client, amount: number, key?: string, extraArgs: object = {}) =>
  client.callTool({
    name: "create_charge",
    arguments: { amount, ...extraArgs },
    ...(key === undefined ? {} : { _meta: { idempotencyKey: key } }),
  });

describe("guardTools: a keyed tools/call runs once per key", () => {
  it("advertises the capability under capabilities.experimental", async () => {
    const { client } = await setUp();
    expect(client.getServerCapabilities()?.experimental?.[CAPABILITY]).toEqual({
      meta: ["idempotencyKey", "idempotency-key"],
      argument: "idempotency_key",
      replayed: REPLAYED_META,
    });
  });

  it("answers a retry (a new request, a new connection) with the stored result, marked as a replay", async () => {
    const { client, connect, effects } = await setUp();
    const first = await charge(client, 1000, "order-1");
    expect(first._meta?.[REPLAYED_META]).toBeUndefined();
    const retry = await charge(await connect(), 1000, "order-1");
    expect(retry._meta?.[REPLAYED_META]).toBe(true);
    const { _meta, ...replayed } = retry;
    expect(replayed).toEqual(first);
    expect(effects.charges).toHaveLength(1);
  });

  it("reads the key from _meta['idempotency-key'] and from the declared argument, which the fingerprint leaves out", async () => {
    const { client, effects } = await setUp();
    const first = await charge(client, 1000, "order-2");
    const dashed = await client.callTool({
      name: "create_charge",
      arguments: { amount: 1000 },
      _meta: { "idempotency-key": "order-2" },
    });
    const argument = await charge(client, 1000, undefined, { idempotency_key: "order-2" });
    expect(dashed.structuredContent).toEqual(first.structuredContent);
    expect(argument.structuredContent).toEqual(first.structuredContent);
    expect(argument._meta?.[REPLAYED_META]).toBe(true);
    expect(effects.charges).toHaveLength(1);
  });

  it("runs 50 concurrent calls with one key once, and answers all 50 with its result", async () => {
    const { client, effects } = await setUp({ delay: 200 });
    const results = await Promise.all(Array.from({ length: 50 }, () => charge(client, 700, "burst-1")));
    expect(effects.charges).toHaveLength(1);
    for (const result of results) expect(result.structuredContent).toEqual({ id: "ch_1", amount: 700 });
    expect(results.filter((result) => result._meta?.[REPLAYED_META] === true)).toHaveLength(49);
  });

  it("refuses the same key with other arguments or another tool with InvalidParams, saying what happened", async () => {
    const { client, effects } = await setUp();
    await charge(client, 1000, "order-3");
    const other = await rpcError(charge(client, 9999, "order-3"));
    expect(other.code).toBe(-32602);
    expect(other.message).toContain("already used to call another tool or the same tool with other arguments");
    expect(other.data).toEqual({ type: "urn:oncely:problem:fingerprint-mismatch", status: 422 });
    const tool = await rpcError(
      client.callTool({ name: "decline", arguments: { amount: 1000 }, _meta: { idempotencyKey: "order-3" } }),
    );
    expect(tool.data.type).toBe("urn:oncely:problem:fingerprint-mismatch");
    expect(effects.charges).toHaveLength(1);
    expect(effects.declines).toBe(0);
  });

  it("refuses a malformed key, or two different keys, before the tool runs", async () => {
    const { client, effects } = await setUp();
    for (const meta of [
      { idempotencyKey: 42 },
      { idempotencyKey: "" },
      { idempotencyKey: "has space" },
      { idempotencyKey: "x".repeat(256) },
    ]) {
      const error = await rpcError(client.callTool({ name: "create_charge", arguments: { amount: 1 }, _meta: meta }));
      expect(error.code).toBe(-32602);
      expect(error.data.type).toBe("urn:oncely:problem:invalid-key");
      expect(error.message).toMatch(/idempotency key in _meta\.idempotencyKey must be/);
    }
    const two = await rpcError(charge(client, 1, "a", { idempotency_key: "b" }));
    expect(two.message).toContain("different idempotency keys in _meta.idempotencyKey and arguments.idempotency_key");
    expect(effects.charges).toHaveLength(0);
  });

  it("runs a call without a key unguarded, unless the tool requires one", async () => {
    const loose = await setUp();
    await charge(loose.client, 5);
    await charge(loose.client, 5);
    expect(loose.effects.charges).toHaveLength(2);
    expect(loose.effects.charges[0]!.derived).toBeUndefined();

    const strict = await setUp({ requireKey: ["create_charge"] });
    const error = await rpcError(charge(strict.client, 5));
    expect(error.code).toBe(-32602);
    expect(error.data.type).toBe("urn:oncely:problem:missing-key");
    expect(error.message).toBe(
      "MCP error -32602: The tool create_charge must be called with an idempotency key in params._meta.idempotencyKey or the argument idempotency_key",
    );
    expect(strict.effects.charges).toHaveLength(0);
  });

  it("releases the key of a tool that threw: the retry runs it again", async () => {
    const { client, effects } = await setUp();
    const call = () =>
      client.callTool({ name: "flaky_refund", arguments: { charge: "ch_1" }, _meta: { idempotencyKey: "refund-1" } });
    expect((await call()).isError).toBe(true);
    const retry = await call();
    expect(retry.isError).toBe(true);
    expect(retry._meta?.[REPLAYED_META]).toBeUndefined();
    expect(effects.failures).toBe(2);
  });

  it("answers a result that is not a CallToolResult with the SDK's own error, and keeps nothing: the retry runs again", async () => {
    let runs = 0;
    const make = (guarded: boolean) => () => {
      const server = new McpServer({ name: "s", version: "1.0.0" });
      if (guarded) guardTools(server, { idempotency: createIdempotency({ store: new MemoryStore(), logger: false }) });
      server.registerTool("broken", { inputSchema: { n: z.number() } }, async () => {
        runs += 1;
        return { content: [{ type: "picture" }] } as never;
      });
      return server;
    };
    const connected = async (guarded: boolean) => {
      const served = await serveMcp(make(guarded), { mode: "stateful" });
      open.push(served);
      const client = await httpClient(served.url);
      open.push(client);
      return client;
    };
    const call = (client: Client, key?: string) =>
      rpcError(
        client.callTool({
          name: "broken",
          arguments: { n: 1 },
          ...(key === undefined ? {} : { _meta: { idempotencyKey: key } }),
        }),
      );
    const unguarded = await call(await connected(false));
    expect(unguarded.code).toBe(-32602);
    expect(unguarded.message).toContain("Invalid tools/call result");
    const guarded = await connected(true);
    for (const key of ["broken-1", "broken-1", undefined]) {
      const error = await call(guarded, key);
      expect({ code: error.code, message: error.message }).toEqual({
        code: unguarded.code,
        message: unguarded.message,
      });
    }
    expect(runs).toBe(4);
  });

  it("stores a result the tool returned with isError: true, unless storeErrorResults is false", async () => {
    const call = (client: Client) =>
      client.callTool({ name: "decline", arguments: { amount: 5 }, _meta: { idempotencyKey: "decline-1" } });
    const stored = await setUp();
    await call(stored.client);
    expect((await call(stored.client))._meta?.[REPLAYED_META]).toBe(true);
    expect(stored.effects.declines).toBe(1);

    const released = await setUp({ storeErrorResults: false });
    await call(released.client);
    expect((await call(released.client))._meta?.[REPLAYED_META]).toBeUndefined();
    expect(released.effects.declines).toBe(2);
  });

  it("scopes keys to the authenticated principal, not the session: another user's key is a new call", async () => {
    const { connect, effects } = await setUp({}, "alice");
    const alice = await charge(await connect("alice"), 100, "same-key");
    const bob = await charge(await connect("bob"), 100, "same-key");
    const aliceAgain = await charge(await connect("alice"), 100, "same-key");
    expect(effects.charges).toHaveLength(2);
    expect(bob.structuredContent).not.toEqual(alice.structuredContent);
    expect(aliceAgain.structuredContent).toEqual(alice.structuredContent);
    expect(effects.charges[0]!.derived).not.toBe(effects.charges[1]!.derived);
  });

  it("uses the scope option instead of the principal when given", async () => {
    const { connect, effects } = await setUp({ scope: () => "one-tenant" }, "alice");
    await charge(await connect("alice"), 100, "tenant-key");
    const bob = await charge(await connect("bob"), 100, "tenant-key");
    expect(bob._meta?.[REPLAYED_META]).toBe(true);
    expect(effects.charges).toHaveLength(1);
  });

  it("refuses a call whose scope function failed, without running it or showing the cause", async () => {
    const { client, effects } = await setUp({
      scope: () => {
        throw new Error("secret database host db.internal:5432 unreachable");
      },
    });
    const errors: unknown[] = [];
    const original = console.error;
    console.error = (error: unknown) => errors.push(error);
    try {
      const error = await rpcError(charge(client, 1, "k"));
      expect(error.code).toBe(-32603);
      expect(error.message).not.toContain("db.internal");
      expect(error.data.type).toBe("urn:oncely:problem:check-failed");
    } finally {
      console.error = original;
    }
    expect(errors).toHaveLength(1);
    expect(effects.charges).toHaveLength(0);
  });

  it("answers a call that waited waitTimeout for the first with an error that says to retry", async () => {
    const { client, effects } = await setUp({ delay: 2500, waitTimeout: 100 });
    const first = charge(client, 300, "slow-1");
    await expect.poll(() => effects.charges.length).toBe(1);
    const error = await rpcError(charge(client, 300, "slow-1"));
    expect(error.code).toBe(-32603);
    expect(error.message).toBe(
      "MCP error -32603: A call with this idempotency key is still running; retry it with the same key in a moment",
    );
    expect(error.data).toEqual({ type: "urn:oncely:problem:in-flight", status: 409, retryAfter: 1 });
    await first;
    expect((await charge(client, 300, "slow-1"))._meta?.[REPLAYED_META]).toBe(true);
  });
});

describe("guardTools: setup", () => {
  const idempotency = createIdempotency({ store: new MemoryStore(), logger: false });

  it("refuses a server whose tools were registered first: they would run unguarded", () => {
    const server = new McpServer({ name: "late", version: "1.0.0" });
    server.registerTool("noop", {}, async () => ({ content: [] }));
    expect(() => guardTools(server, { idempotency })).toThrow(/before the first tool is registered/);
  });

  it("names the option that is wrong", () => {
    const server = () => new McpServer({ name: "s", version: "1.0.0" });
    expect(() => guardTools(server(), {} as never)).toThrow(/`idempotency`/);
    expect(() => guardTools(server(), { idempotency, keyArgument: "" })).toThrow(/`keyArgument`/);
    expect(() => guardTools(server(), { idempotency, requireKey: "yes" as never })).toThrow(/`requireKey`/);
    expect(() => guardTools(server(), { idempotency, waitTimeout: "soon" as never })).toThrow(/`waitTimeout`/);
    expect(() => guardTools(server(), { idempotency, storeErrorResults: 1 as never })).toThrow(/`storeErrorResults`/);
  });

  it("wraps a callback given later through the registered tool's update()", async () => {
    const store = new MemoryStore();
    const server = new McpServer({ name: "s", version: "1.0.0" });
    guardTools(server, { idempotency: createIdempotency({ store, logger: false }) });
    let runs = 0;
    const tool = server.registerTool("count", { inputSchema: { n: z.number() } }, async () => ({ content: [] }));
    tool.update({
      callback: async () => {
        runs += 1;
        return { content: [{ type: "text" as const, text: String(runs) }] };
      },
    });
    const served = await serveMcp(() => server, { mode: "stateful" });
    open.push(served);
    const client = await httpClient(served.url);
    open.push(client);
    const call = () => client.callTool({ name: "count", arguments: { n: 1 }, _meta: { idempotencyKey: "u-1" } });
    await call();
    expect((await call())._meta?.[REPLAYED_META]).toBe(true);
    expect(runs).toBe(1);
  });
});
