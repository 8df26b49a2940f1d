import { afterEach, describe, expect, it } from "vitest";
import { withIdempotency } from "../../src/adapters/node/index.js";
import { createIdempotency, type IdempotencyEvent, type IdempotencyOptions, MemoryStore } from "../../src/index.js";
import type { RunningServer } from "../http/app-spec.js";
import { serveNode } from "../http/servers.js";

/** A full MemoryStore over real HTTP: what a client gets, what the handler sees, which events fire. */
const now = 1_700_000_000_000;
let server: RunningServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(store: MemoryStore, options: Partial<IdempotencyOptions> = {}) {
  const events: IdempotencyEvent[] = [];
  const runs: string[] = [];
  const idem = createIdempotency({
    store,
    onEvent: (event) => events.push(event),
    ...options,
  });
  server = await serveNode(
    withIdempotency(idem, (req, res) => {
      runs.push(String(req.headers["idempotency-key"]));
      res.writeHead(201, { "content-type": "application/json" });
      res.end(JSON.stringify({ charge: runs.length }));
    }),
  );
  const post = async (key: string, headers: Record<string, string> = {}) => {
    const response = await fetch(`${server!.url}/charges`, {
      method: "POST",
      headers: { "idempotency-key": key, "content-type": "application/json", ...headers },
      body: "{}",
    });
    return { response, body: await response.text() };
  };
  return { events, runs, post };
}

describe("a full MemoryStore over HTTP", () => {
  it("answers a new key 503 store-full with Retry-After, runs nothing, even with failOpen, and still replays", async () => {
    const store = new MemoryStore({ maxEntries: 2, now: () => now });
    const { events, runs, post } = await start(store, { failOpen: true });
    expect((await post("a")).response.status).toBe(201);
    expect((await post("b")).response.status).toBe(201);

    const { response, body } = await post("c");
    expect(response.status).toBe(503);
    expect(response.headers.get("content-type")).toBe("application/problem+json");
    expect(Number(response.headers.get("retry-after"))).toBe(86_400);
    const problem = JSON.parse(body);
    expect(problem).toMatchObject({ type: "urn:oncely:problem:store-full", status: 503, code: "store_full" });
    // Nothing about the store inside: not its name, not its size.
    expect(body).not.toMatch(/memory|maxEntries|\b2\b.*records/i);
    expect(runs).toEqual(["a", "b"]);
    expect(events.filter((event) => event.type === "store-full")).toEqual([
      expect.objectContaining({ type: "store-full", key: "c", status: 503, reason: "store_full" }),
    ]);
    expect(events.some((event) => event.type === "store-error")).toBe(false);

    const replay = await post("a");
    expect(replay.response.status).toBe(201);
    expect(replay.response.headers.get("idempotent-replayed")).toBe("true");
    expect(replay.body).toBe('{"charge":1}');
    expect(runs).toEqual(["a", "b"]);
    await store.close();
  });

  it("keeps one tenant from filling the store: A floods fresh keys until refused, B still replays and claims", async () => {
    const store = new MemoryStore({ maxEntries: 100, maxEntriesPerScope: 40, now: () => now });
    const tenant = (request: { headers: Record<string, string | string[] | undefined> }) =>
      String(request.headers["x-tenant"]);
    const { events, runs, post } = await start(store, { scope: tenant });
    const asB = { "x-tenant": "B" };
    expect((await post("b-stored", asB)).response.status).toBe(201);

    let accepted = 0;
    for (;;) {
      const { response, body } = await post(`a-${accepted}`, { "x-tenant": "A" });
      if (response.status === 503) {
        expect(JSON.parse(body)).toMatchObject({ type: "urn:oncely:problem:store-full" });
        expect(response.headers.get("retry-after")).toBeTruthy();
        break;
      }
      expect(response.status).toBe(201);
      accepted += 1;
      expect(accepted).toBeLessThanOrEqual(40);
    }
    expect(accepted).toBe(40);
    expect(events.filter((event) => event.type === "store-full")).toHaveLength(1);

    const replay = await post("b-stored", asB);
    expect(replay.response.status).toBe(201);
    expect(replay.response.headers.get("idempotent-replayed")).toBe("true");
    expect(replay.body).toBe('{"charge":1}');
    expect((await post("b-new", asB)).response.status).toBe(201);
    expect(runs.filter((key) => key.startsWith("b-"))).toEqual(["b-stored", "b-new"]);
    // A's own stored outcomes still replay while it is at its quota.
    expect((await post("a-0", { "x-tenant": "A" })).response.headers.get("idempotent-replayed")).toBe("true");
    await store.close();
  });
});
