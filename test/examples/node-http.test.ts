import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createWalletServer } from "../../examples/node-http/server.js";
import { MemoryStore } from "../../src/index.js";
import type { RunningServer } from "../http/app-spec.js";
import { listen } from "../http/servers.js";
import { untilInFlight } from "../support/until.js";

describe("example: node:http wallet", () => {
  let server: RunningServer;
  let demo: ReturnType<typeof createWalletServer>;
  const store = new MemoryStore();
  beforeAll(async () => {
    demo = createWalletServer(store);
    server = await listen(demo.server);
  });
  afterAll(() => server.close());

  const topUp = (key: string | undefined, body: unknown = { amount: 500 }) =>
    fetch(`${server.url}/top-ups`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(key ? { "idempotency-key": key } : {}) },
      body: JSON.stringify(body),
    });

  it("credits once per key: the retry replays it, a concurrent duplicate gets 409, another body 422", async () => {
    const first = await topUp("topup-1");
    expect(first.status).toBe(201);
    const created = await first.json();
    expect(created.processorKey).toMatch(/\S/);
    const replay = await topUp("topup-1");
    expect(replay.status).toBe(201);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(await replay.json()).toEqual(created);

    const running = topUp("topup-2", { amount: 250 });
    await untilInFlight(store, "topup-2");
    expect((await topUp("topup-2", { amount: 250 })).status).toBe(409);
    expect((await running).status).toBe(201);

    expect((await topUp("topup-1", { amount: 900 })).status).toBe(422);
    expect((await topUp(undefined)).status).toBe(400);
    expect(demo.topUps).toHaveLength(2);
    expect((await (await fetch(`${server.url}/balance`)).json()).balance).toBe(750);
  });
});
