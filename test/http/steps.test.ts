import { createServer } from "node:http";
import express from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { idempotency } from "../../src/adapters/express/index.js";
import { createIdempotency, MemoryStore } from "../../src/index.js";
import type { RunningServer } from "./app-spec.js";
import { listen } from "./servers.js";

describe("steps inside an HTTP handler (Express)", () => {
  let server: RunningServer;
  const charged: string[] = [];
  let crashAfterCharge = true;

  beforeAll(async () => {
    const idem = createIdempotency({ store: new MemoryStore() });
    const app = express();
    app.post("/orders", express.json(), idempotency(idem), async (req, res, next) => {
      try {
        const step = req.idempotency!.step;
        const hold = await step("reserve", () => ({ hold: `h_${req.body.sku}` }));
        const charge = await step("charge", (s) => {
          charged.push(s.key);
          return { charge: `ch_${charged.length}` };
        });
        if (crashAfterCharge) throw new Error("the process died here");
        res.status(201).json({ ...hold, ...charge });
      } catch (error) {
        next(error);
      }
    });
    server = await listen(createServer(app));
  });
  afterAll(() => server.close());

  const order = () =>
    fetch(`${server.url}/orders`, {
      method: "POST",
      headers: { "content-type": "application/json", "idempotency-key": "order-1" },
      body: JSON.stringify({ sku: "sku-1" }),
    });

  it("resumes after a failed attempt: a retry skips the recorded steps and the charge happens once", async () => {
    expect((await order()).status).toBe(500);
    crashAfterCharge = false;
    const retry = await order();
    expect(retry.status).toBe(201);
    expect(await retry.json()).toEqual({ hold: "h_sku-1", charge: "ch_1" });
    const replay = await order();
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(await replay.json()).toEqual({ hold: "h_sku-1", charge: "ch_1" });
    expect(charged).toHaveLength(1);
  });
});
