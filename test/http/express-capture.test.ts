import { createServer } from "node:http";
import { Readable } from "node:stream";
import express from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { idempotency } from "../../src/adapters/express/index.js";
import { createIdempotency, MemoryStore } from "../../src/index.js";
import type { RunningServer } from "./app-spec.js";
import { listen } from "./servers.js";

describe("express: every way of answering is captured, and the body stays usable", () => {
  let server: RunningServer;
  const runs = new Map<string, number>();
  const count = (name: string) => {
    runs.set(name, (runs.get(name) ?? 0) + 1);
    return runs.get(name)!;
  };

  beforeAll(async () => {
    const idem = createIdempotency({ store: new MemoryStore() });
    const app = express();
    app.post("/send", idempotency(idem), (_req, res) => {
      res.status(201).send(`sent ${count("send")}`);
    });
    app.post("/json", express.json(), idempotency(idem), (req, res) => {
      res.json({ n: count("json"), got: req.body });
    });
    app.post("/end", idempotency(idem), (_req, res) => {
      res.writeHead(202, { "x-way": "end" });
      res.end(`ended ${count("end")}`);
    });
    app.post("/write", idempotency(idem), (_req, res) => {
      res.setHeader("content-type", "text/plain");
      res.write("part one, ");
      res.write(Buffer.from("part two, "));
      res.end(`run ${count("write")}`);
    });
    app.post("/stream", idempotency(idem), (_req, res) => {
      res.type("text/csv");
      Readable.from(["a,b\n", "1,2\n", `run,${count("stream")}\n`]).pipe(res);
    });
    // oncely before the parser: it reads the body itself and leaves it readable for express.json().
    app.post("/parse-after", idempotency(idem), express.json(), (req, res) => {
      res.json({ n: count("parse-after"), got: req.body });
    });
    // A webhook that needs the raw bytes for its signature check.
    app.post("/webhook", idempotency(idem), express.raw({ type: "*/*" }), (req, res) => {
      res.json({ n: count("webhook"), bytes: (req.body as Buffer).toString("hex") });
    });
    server = await listen(createServer(app));
  });
  afterAll(() => server.close());

  const post = (path: string, key: string, body = '{"b":2,"a":1}') =>
    fetch(`${server.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", "idempotency-key": key },
      body,
    });

  for (const [path, status] of [
    ["/send", 201],
    ["/json", 200],
    ["/end", 202],
    ["/write", 200],
    ["/stream", 200],
    ["/parse-after", 200],
    ["/webhook", 200],
  ] as const) {
    it(`captures and replays ${path}`, async () => {
      const key = `capture${path.replace("/", "-")}`;
      const first = await post(path, key);
      const firstBody = await first.text();
      expect(first.status).toBe(status);
      const retry = await post(path, key);
      expect(retry.status).toBe(status);
      expect(retry.headers.get("idempotent-replayed")).toBe("true");
      expect(await retry.text()).toBe(firstBody);
      expect(runs.get(path.slice(1))).toBe(1);
    });
  }

  it("hands the parsed body to handlers after the parser, whichever side of oncely it runs", async () => {
    const before = await (await post("/json", "parsed-before", '{"x":1}')).json();
    const after = await (await post("/parse-after", "parsed-after", '{"x":1}')).json();
    expect(before.got).toEqual({ x: 1 });
    expect(after.got).toEqual({ x: 1 });
    const raw = await (await post("/webhook", "raw-bytes", "sig-me")).json();
    expect(raw.bytes).toBe(Buffer.from("sig-me").toString("hex"));
  });

  it("fingerprints the parsed body canonically: key order does not matter after express.json()", async () => {
    await post("/json", "canonical", '{"a":1,"b":2}');
    const retry = await post("/json", "canonical", '{ "b": 2, "a": 1 }');
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    const other = await post("/json", "canonical", '{"a":1,"b":3}');
    expect(other.status).toBe(422);
  });
});
