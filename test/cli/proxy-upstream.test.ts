import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CountingUpstream, countingUpstream, type ProxyUnderTest, startProxy } from "./proxy/harness.js";

// The upstream failing, hanging or dropping the connection: a guarded request gets a 502 or 504 problem, its claim
// is released, and the retry runs upstream again. Unguarded requests get the same answers, with nothing claimed.

describe("oncely proxy: upstream failures", () => {
  let upstream: CountingUpstream;
  let front: ProxyUnderTest;
  let keys = 0;
  const newKey = () => `upstream-failure-${++keys}`;
  const post = (path: string, key?: string) =>
    fetch(`${front.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(key ? { "idempotency-key": key } : {}) },
      body: '{"amount":1}',
    });
  const problem = async (response: Response) => {
    expect(response.headers.get("content-type")).toBe("application/problem+json");
    return (await response.json()) as { type: string; status: number; detail: string };
  };

  beforeAll(async () => {
    upstream = await countingUpstream();
    front = await startProxy({
      upstream: upstream.url,
      upstreamTimeout: 300,
      routes: [{ route: "POST /charges/*" }],
    });
  });
  afterAll(async () => {
    upstream.releaseHanging();
    await front.close();
    await upstream.close();
  });

  it("dropped connection: 502, the claim released, the retry runs upstream again and is then replayed", async () => {
    const key = newKey();
    upstream.next("/charges/drop", "drop");
    const failed = await post("/charges/drop", key);
    expect(failed.status).toBe(502);
    expect((await problem(failed)).type).toBe("urn:oncely:problem:bad-gateway");
    expect(front.events.findLast((e) => e.key === key)).toMatchObject({ type: "released" });
    const retried = await post("/charges/drop", key);
    expect(retried.status).toBe(201);
    expect(retried.headers.get("idempotent-replayed")).toBeNull();
    const replayed = await post("/charges/drop", key);
    expect(replayed.headers.get("idempotent-replayed")).toBe("true");
    expect(await replayed.json()).toEqual(await retried.json());
    expect(upstream.runs.get("/charges/drop")).toBe(2);
  });

  it("hanging upstream: 504 after --upstream-timeout, the claim released, the retry runs again", async () => {
    const key = newKey();
    upstream.next("/charges/hang", "hang");
    const started = Date.now();
    const failed = await post("/charges/hang", key);
    expect(failed.status).toBe(504);
    expect(Date.now() - started).toBeGreaterThanOrEqual(280);
    expect((await problem(failed)).type).toBe("urn:oncely:problem:gateway-timeout");
    expect(front.events.findLast((e) => e.key === key)).toMatchObject({ type: "released" });
    const retried = await post("/charges/hang", key);
    expect(retried.status).toBe(201);
    expect(retried.headers.get("idempotent-replayed")).toBeNull();
    expect(upstream.runs.get("/charges/hang")).toBe(2);
  });

  it("connection dropped in the middle of the body: 502, released, and the retry runs again", async () => {
    const key = newKey();
    upstream.next("/charges/partial", "drop-mid-body");
    const failed = await post("/charges/partial", key);
    expect(failed.status).toBe(502);
    expect(await failed.text()).not.toContain("only part of it");
    const retried = await post("/charges/partial", key);
    expect(retried.status).toBe(201);
    expect(upstream.runs.get("/charges/partial")).toBe(2);
  });

  it("an upstream 500 is passed on as it is and not stored: the retry runs again", async () => {
    const key = newKey();
    upstream.next("/charges/broken", "fail-500");
    const failed = await post("/charges/broken", key);
    expect(failed.status).toBe(500);
    expect(await failed.text()).toBe("upstream broke");
    expect((await post("/charges/broken", key)).status).toBe(201);
    expect(upstream.runs.get("/charges/broken")).toBe(2);
  });

  it("an upstream that cannot be reached: 502, and nothing stays claimed", async () => {
    const down = await startProxy({ upstream: "http://127.0.0.1:1", routes: [{ route: "POST /charges/*" }] });
    try {
      const key = newKey();
      const response = await fetch(`${down.url}/charges/x`, {
        method: "POST",
        headers: { "idempotency-key": key },
        body: "{}",
      });
      expect(response.status).toBe(502);
      // The cause (ECONNREFUSED and the upstream's address) is for the proxy's log, never the client.
      const body = await problem(response);
      expect(JSON.stringify(body)).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|localhost/);
      expect(body.detail).toMatch(/proxy's log/);
      expect(down.events.map((e) => e.type)).toEqual(["released"]);
      const unguarded = await fetch(`${down.url}/elsewhere`);
      expect(unguarded.status).toBe(502);
      expect((await problem(unguarded)).type).toBe("urn:oncely:problem:bad-gateway");
    } finally {
      await down.close();
    }
  });

  it("forwards unguarded request bodies intact, whether they arrived whole or are still arriving", async () => {
    const large = "z".repeat(300_000);
    for (const body of ['{"small":true}', large]) {
      const response = await fetch(`${front.url}/bodies`, { method: "POST", body });
      expect(response.status).toBe(201);
      expect(upstream.seen.at(-1)!.body).toBe(body);
    }
    const chunked = await fetch(`${front.url}/bodies`, {
      method: "POST",
      body: new Blob(["part-1;", "part-2"]).stream(),
      duplex: "half",
    } as RequestInit);
    expect(chunked.status).toBe(201);
    expect(upstream.seen.at(-1)!.body).toBe("part-1;part-2");
  });

  it("unguarded traffic gets the same 502 and 504 answers", async () => {
    upstream.next("/reports", "hang", "drop");
    const timedOut = await post("/reports");
    expect(timedOut.status).toBe(504);
    expect((await problem(timedOut)).type).toBe("urn:oncely:problem:gateway-timeout");
    const dropped = await post("/reports");
    expect(dropped.status).toBe(502);
    expect(front.events.filter((e) => e.route === "POST /reports")).toEqual([]);
  });
});
