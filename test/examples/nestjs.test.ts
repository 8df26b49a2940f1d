import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTransfersApp } from "../../examples/nestjs/app.js";
import { MemoryStore } from "../../src/index.js";
import { untilInFlight } from "../support/until.js";

describe.each(["express", "fastify"] as const)("example: NestJS transfers API on the %s platform", (platform) => {
  let url: string;
  let demo: Awaited<ReturnType<typeof createTransfersApp>>;
  const store = new MemoryStore();
  beforeAll(async () => {
    demo = await createTransfersApp(store, { platform });
    await demo.app.listen(0, "127.0.0.1");
    url = `http://127.0.0.1:${((demo.app.getHttpServer() as Server).address() as AddressInfo).port}`;
  });
  afterAll(() => demo.app.close());

  const transfer = (key: string | undefined, body: unknown = { to: "DE89 3704", amount: 1200 }) =>
    fetch(`${url}/transfers`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(key ? { "idempotency-key": key } : {}) },
      body: JSON.stringify(body),
    });

  it("sends one transfer per key: the retry replays it, a concurrent duplicate gets 409, another body 422", async () => {
    const first = await transfer("rent-may");
    expect(first.status).toBe(201);
    const sent = await first.json();
    expect(sent).toMatchObject({ to: "DE89 3704", amount: 1200 });
    expect(sent.bankKey).toMatch(/\S/);
    const replay = await transfer("rent-may");
    expect(replay.status).toBe(201);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(await replay.json()).toEqual(sent);

    const running = transfer("rent-june");
    await untilInFlight(store, "rent-june");
    expect((await transfer("rent-june")).status).toBe(409);
    expect((await running).status).toBe(201);

    expect((await transfer("rent-may", { to: "DE89 3704", amount: 9900 })).status).toBe(422);
    expect((await transfer(undefined)).status).toBe(400);
    expect(demo.bank.transfers).toHaveLength(2);
    expect((await (await fetch(`${url}/transfers`)).json()).count).toBe(2);
  });

  it("stores no thrown exception: a retry of a refused transfer runs the handler again", async () => {
    const refused = await transfer("rent-july", { to: "DE89 3704" });
    expect(refused.status).toBe(400);
    const retry = await transfer("rent-july", { to: "DE89 3704" });
    expect(retry.status).toBe(400);
    expect(retry.headers.get("idempotent-replayed")).toBeNull();
    expect(await retry.json()).toMatchObject({ message: expect.stringContaining("`amount`") });
  });
});
