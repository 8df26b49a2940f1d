import { createServer } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createOutboxApp } from "../../examples/koa/app.js";
import { MemoryStore } from "../../src/index.js";
import type { RunningServer } from "../http/app-spec.js";
import { listen } from "../http/servers.js";
import { untilInFlight } from "../support/until.js";

describe("example: Koa outbox", () => {
  let server: RunningServer;
  let demo: ReturnType<typeof createOutboxApp>;
  const store = new MemoryStore();
  beforeAll(async () => {
    demo = createOutboxApp(store);
    server = await listen(createServer(demo.app.callback()));
  });
  afterAll(() => server.close());

  const send = (key: string | undefined, body: unknown = { to: "ada@example.com", subject: "Welcome" }) =>
    fetch(`${server.url}/emails`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(key ? { "idempotency-key": key } : {}) },
      body: JSON.stringify(body),
    });

  it("sends one email per key: the retry replays it, a concurrent duplicate gets 409, another body 422", async () => {
    const first = await send("welcome-ada");
    expect(first.status).toBe(202);
    const email = await first.json();
    expect(email.messageKey).toMatch(/\S/);
    const replay = await send("welcome-ada");
    expect(replay.status).toBe(202);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(await replay.json()).toEqual(email);

    const running = send("welcome-bob", { to: "bob@example.com", subject: "Welcome" });
    await untilInFlight(store, "welcome-bob");
    expect((await send("welcome-bob", { to: "bob@example.com", subject: "Welcome" })).status).toBe(409);
    expect((await running).status).toBe(202);

    expect((await send("welcome-ada", { to: "eve@example.com", subject: "Welcome" })).status).toBe(422);
    expect((await send(undefined)).status).toBe(400);
    expect(demo.sent).toHaveLength(2);
    expect((await (await fetch(`${server.url}/emails`)).json()).count).toBe(2);
  });
});
