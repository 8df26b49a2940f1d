import { once } from "node:events";
import { request as httpRequest } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ProxyLogEntry } from "../../src/cli/proxy/proxy.js";
import { createIdempotency, MemoryStore } from "../../src/index.js";
import { RedisStore } from "../../src/stores/redis/index.js";
import { type Listening, listen, rawRequest, sleep, startProxy, until } from "./proxy/harness.js";

// What the proxy does to traffic: streams what it does not guard, strips hop-by-hop headers both ways, adds the
// forwarding headers, buffers guarded responses only up to maxResponseBytes, and answers its health.

describe("oncely proxy: traffic", () => {
  let upstream: Listening;
  let seen: { url: string; headers: Record<string, unknown> }[];
  let release: () => void = () => {};

  beforeAll(async () => {
    seen = [];
    upstream = await listen((req, res) => {
      seen.push({ url: req.url ?? "/", headers: req.headers });
      if (req.url === "/stream") {
        // The first chunk now, the rest only when the test says: a buffering proxy would deliver nothing meanwhile.
        res.writeHead(200, { "content-type": "text/plain" });
        res.write("first;");
        release = () => res.end("last");
        return;
      }
      if (req.url === "/upload") {
        let received = "";
        req.on("data", (chunk) => {
          received += chunk;
          if (!res.headersSent) {
            res.writeHead(200, { "content-type": "text/plain", "x-received": received });
            res.flushHeaders();
          }
        });
        req.on("end", () => res.end(received));
        return;
      }
      if (req.url === "/big") {
        res.writeHead(201, { "content-type": "text/plain" });
        res.end("y".repeat(5000));
        return;
      }
      req.resume();
      req.on("end", () => {
        res.writeHead(200, {
          "content-type": "application/json",
          connection: "x-upstream-hop",
          "x-upstream-hop": "secret",
          "keep-alive": "timeout=5",
          "x-end-to-end": "kept",
        });
        res.end(JSON.stringify({ ok: true }));
      });
    });
  });
  afterAll(async () => {
    release();
    await upstream.close();
  });

  it("streams an unguarded response as it arrives", async () => {
    const front = await startProxy({ upstream: upstream.url, routes: [{ route: "POST /charges" }] });
    try {
      const response = await fetch(`${front.url}/stream`);
      const reader = response.body!.getReader();
      const first = await reader.read();
      expect(Buffer.from(first.value!).toString()).toBe("first;");
      release();
      let rest = "";
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
        rest += Buffer.from(chunk.value).toString();
      }
      expect(rest).toBe("last");
    } finally {
      await front.close();
    }
  });

  it("streams an unguarded request body to the upstream before the client has sent all of it", async () => {
    const front = await startProxy({ upstream: upstream.url, routes: [{ route: "POST /charges" }] });
    try {
      const url = new URL("/upload", front.url);
      const req = httpRequest(url, { method: "POST", headers: { "content-type": "text/plain" } });
      req.flushHeaders();
      req.write("part-one;");
      const [res] = (await once(req, "response")) as [import("node:http").IncomingMessage];
      // The upstream answered headers after seeing the first part, while the client still holds the rest.
      expect(res.headers["x-received"]).toBe("part-one;");
      req.end("part-two");
      let body = "";
      for await (const chunk of res) body += chunk;
      expect(body).toBe("part-one;part-two");
    } finally {
      await front.close();
    }
  });

  it("strips hop-by-hop headers both ways and adds X-Forwarded-For/Proto/Host and Via", async () => {
    const front = await startProxy({ upstream: upstream.url, routes: [{ route: "POST /charges" }] });
    try {
      const response = await rawRequest(`${front.url}/plain?x=1`, {
        headers: {
          connection: "keep-alive, x-client-hop",
          "x-client-hop": "secret",
          "keep-alive": "timeout=5",
          te: "trailers",
          "proxy-authorization": "Basic c2VjcmV0",
          "x-forwarded-for": "203.0.113.7",
          "x-end-to-end": "kept",
        },
      });
      expect(response.status).toBe(200);
      const received = seen.findLast((request) => request.url === "/plain?x=1")!.headers;
      expect(received["x-client-hop"]).toBeUndefined();
      expect(received["proxy-authorization"]).toBeUndefined();
      expect(received.te).toBeUndefined();
      expect(received["keep-alive"]).toBeUndefined();
      expect(received["x-end-to-end"]).toBe("kept");
      expect(received["x-forwarded-for"]).toBe("203.0.113.7, 127.0.0.1");
      expect(received["x-forwarded-proto"]).toBe("http");
      expect(received["x-forwarded-host"]).toBe(new URL(front.url).host);
      expect(received.host).toBe(new URL(upstream.url).host);
      expect(received.via).toBe("1.1 oncely");
      expect(response.headers["x-upstream-hop"]).toBeUndefined();
      expect(response.headers["x-end-to-end"]).toBe("kept");
    } finally {
      await front.close();
    }
  });

  it("strips hop-by-hop headers from a guarded response, and stores none of them", async () => {
    const store = new MemoryStore();
    const front = await startProxy({
      upstream: upstream.url,
      idem: createIdempotency({ store }),
      routes: [{ route: "POST /plain" }],
    });
    try {
      const send = () =>
        rawRequest(`${front.url}/plain`, { method: "POST", headers: { "idempotency-key": "hop-1" }, body: "{}" });
      const first = await send();
      const replay = await send();
      for (const response of [first, replay]) {
        expect(response.headers["x-upstream-hop"]).toBeUndefined();
        expect(response.headers["x-end-to-end"]).toBe("kept");
      }
      expect(replay.headers["idempotent-replayed"]).toBe("true");
      const { records } = await store.list({ limit: 10 });
      const stored = records[0]!.response!.headers.map(([name]) => name);
      expect(stored).toContain("x-end-to-end");
      expect(stored).not.toContain("x-upstream-hop");
      expect(stored).not.toContain("keep-alive");
      expect(records[0]!.meta).toMatchObject({ method: "POST", path: "/plain" });
    } finally {
      await front.close();
    }
  });

  it("records the pattern as the route name, and matches * to one segment and a final ** to the rest", async () => {
    const store = new MemoryStore();
    const events: import("../../src/index.js").IdempotencyEvent[] = [];
    const front = await startProxy({
      upstream: upstream.url,
      idem: createIdempotency({ store, onEvent: (event) => events.push(event) }),
      routes: [{ route: "POST /accounts/*/charges" }, { route: "PATCH /files/**" }],
    });
    try {
      const send = (method: string, path: string, key: string) =>
        rawRequest(`${front.url}${path}`, { method, headers: { "idempotency-key": key }, body: "{}" });
      await send("POST", "/accounts/a1/charges", "p-1");
      await send("POST", "/accounts/a1/b/charges", "p-2");
      await send("PATCH", "/files/a/b/c", "p-3");
      await send("PATCH", "/files", "p-4");
      await send("POST", "/files/a", "p-5");
      expect(events.map((e) => [e.key, e.type, e.route])).toEqual([
        ["p-1", "executed", "POST /accounts/*/charges"],
        ["p-3", "executed", "PATCH /files/**"],
      ]);
    } finally {
      await front.close();
    }
  });

  it("stores a guarded response up to maxResponseBytes; a larger one is delivered whole and not kept", async () => {
    const front = await startProxy({
      upstream: upstream.url,
      routes: [{ route: "POST /big", options: { maxResponseBytes: 1000 } }],
    });
    try {
      const send = () =>
        fetch(`${front.url}/big`, { method: "POST", headers: { "idempotency-key": "big-1" }, body: "{}" });
      const first = await send();
      expect(first.status).toBe(201);
      expect((await first.text()).length).toBe(5000);
      const retry = await send();
      expect(retry.status).toBe(410);
      expect(((await retry.json()) as { type: string }).type).toBe("urn:oncely:problem:response-not-kept");
    } finally {
      await front.close();
    }
  });

  it("answers its health: 200 while the store answers, 503 when it does not, and passes other methods on", async () => {
    const front = await startProxy({ upstream: upstream.url, routes: [{ route: "POST /charges" }] });
    const down = createIdempotency({ store: new RedisStore({ url: "redis://127.0.0.1:1", timeout: 200 }) });
    const logged: ProxyLogEntry[] = [];
    const broken = await startProxy({
      upstream: upstream.url,
      idem: down,
      healthPath: "/healthz",
      healthTimeout: 300,
      routes: [{ route: "POST /charges" }],
      log: (entry) => logged.push(entry),
    });
    try {
      const ok = await fetch(`${front.url}/.oncely/health`);
      expect(ok.status).toBe(200);
      expect(await ok.json()).toEqual({ status: "ok" });
      // Any client can ask: the answer says up or down, never which store, where it lives or why it failed.
      const bad = await fetch(`${broken.url}/healthz`);
      expect(bad.status).toBe(503);
      const text = await bad.text();
      expect(JSON.parse(text)).toEqual({ status: "unavailable" });
      for (const internal of ["redis", "127.0.0.1", "ECONNREFUSED", ":1"]) expect(text).not.toContain(internal);
      // The operator's log has the cause.
      const entry = logged.find((line) => line.msg === "oncely health check failed");
      expect(entry).toMatchObject({ level: "error", proxy: { store: "redis" } });
      expect(JSON.stringify(entry)).toMatch(/127\.0\.0\.1:1|ECONNREFUSED|within 300 ms/);
      const before = seen.length;
      await fetch(`${front.url}/.oncely/health`, { method: "POST", body: "{}" });
      expect(seen.length).toBe(before + 1);
    } finally {
      await front.close();
      await broken.close();
      await down.close();
    }
  });
});

describe("oncely proxy: draining", () => {
  it("waits for requests under way, then answers new ones 503", async () => {
    let answer: () => void = () => {};
    const upstream = await listen((req, res) => {
      req.resume();
      answer = () => res.end("done");
    });
    const front = await startProxy({ upstream: upstream.url, routes: [{ route: "POST /charges" }] });
    try {
      const pending = fetch(`${front.url}/charges`, { method: "POST", headers: { "idempotency-key": "d-1" } });
      await until(() => front.proxy.inFlight === 1 && front.events.length === 0);
      await sleep(50);
      const drained = front.proxy.drain(5_000);
      setTimeout(() => answer(), 100);
      expect((await pending).status).toBe(200);
      expect(await drained).toEqual({ finished: 1, abandoned: 0 });
      const late = await fetch(`${front.url}/charges`, { method: "POST", headers: { "idempotency-key": "d-2" } });
      expect(late.status).toBe(503);
      expect(((await late.json()) as { type: string }).type).toBe("urn:oncely:problem:shutting-down");
      const health = await rawRequest(`${front.url}/.oncely/health`, { method: "HEAD" });
      expect(health.status).toBe(503);
      expect(health.headers.connection).toBe("close");
    } finally {
      await front.close();
      await upstream.close();
    }
  });

  it("stops waiting at the drain timeout, releases the claims still held, and the retry runs again", async () => {
    let runs = 0;
    const upstream = await listen((req, res) => {
      req.resume();
      runs++;
      if (runs === 2) res.end("second run");
    });
    const store = new MemoryStore();
    const first = await startProxy({
      upstream: upstream.url,
      idem: createIdempotency({ store }),
      routes: [{ route: "POST /charges" }],
    });
    const send = (url: string) =>
      fetch(`${url}/charges`, { method: "POST", headers: { "idempotency-key": "d-3" }, body: "{}" });
    try {
      const pending = send(first.url);
      await until(() => runs === 1);
      expect(await first.proxy.drain(100)).toEqual({ finished: 0, abandoned: 1 });
      const cut = await pending;
      expect(cut.status).toBe(503);
      expect(cut.headers.get("retry-after")).toBe("1");
      const { records } = await store.list({ limit: 10 });
      expect(records.map((record) => record.state)).toEqual(["released"]);
      // Another proxy on the same store (the next instance of a rolling deploy) runs the retry.
      const second = await startProxy({
        upstream: upstream.url,
        idem: createIdempotency({ store }),
        routes: [{ route: "POST /charges" }],
      });
      const retried = await send(second.url);
      expect(retried.status).toBe(200);
      expect(await retried.text()).toBe("second run");
      await second.close();
    } finally {
      await first.close();
      await upstream.close();
    }
  });
});
