import { createServer } from "node:http";
import { context, SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { withIdempotency } from "../../src/adapters/node/index.js";
import { MemoryStore, type Store } from "../../src/index.js";
import { createTelemetry, keyHash } from "../../src/otel/index.js";
import { listen } from "../http/servers.js";
import {
  type DecisionApp,
  type DrivenDecisions,
  driveEveryDecision,
  SECRET,
  startDecisionApp,
} from "../support/decision-app.js";
import { createTestSdk, isOncelySpan, isServerSpan, parentOf, sortPoints, withServerSpans } from "./harness.js";

const contextManager = new AsyncLocalStorageContextManager();
const sdk = createTestSdk();

beforeAll(() => {
  context.setGlobalContextManager(contextManager.enable());
});
afterAll(async () => {
  context.disable();
  await sdk.shutdown();
});

/** Every decision of the semantics table, through Express on a real socket, behind a server span. */
describe("oncely/otel: one span per decision, store operations as its children, metrics", () => {
  let app: DecisionApp;
  let driven: DrivenDecisions;
  let spans: ReadableSpan[];
  let events: string[];

  beforeAll(async () => {
    sdk.spans.reset();
    events = [];
    const telemetry = createTelemetry({ tracerProvider: sdk.tracerProvider, meterProvider: sdk.meterProvider });
    app = await startDecisionApp(
      (options) => telemetry.createIdempotency({ ...options, onEvent: (event) => events.push(event.type) }),
      withServerSpans(sdk.tracerProvider),
    );
    driven = await driveEveryDecision(app);
    // The server span of the last request ends on "close", a moment after its response arrived.
    await until(() => sdk.spans.getFinishedSpans().filter(isServerSpan).length === 14);
    spans = sdk.spans.getFinishedSpans();
  });
  afterAll(() => app.close());

  const requestSpans = () => spans.filter((span) => isOncelySpan(span) && !span.name.startsWith("oncely.store "));
  const forKey = (key: string) => requestSpans().filter((span) => span.attributes["oncely.key_hash"] === keyHash(key));
  const childrenOf = (span: ReadableSpan) => spans.filter((child) => parentOf(child) === span.spanContext().spanId);
  const operations = (span: ReadableSpan) =>
    childrenOf(span).map((child) => [
      child.attributes["oncely.store.operation.name"],
      child.attributes["oncely.store.outcome"],
    ]);
  const decision = (span: ReadableSpan) => span.attributes["oncely.decision"];

  it("answers as the semantics table says, and the user's onEvent still gets every event", () => {
    expect(driven.statuses).toEqual({
      "/charges": [201, 201, 422, 503],
      "/required": [400],
      "/small": [413],
      "/limited": [201, 429],
      "/throws": [500],
      // The conflict is answered while the first request still runs; the takeover before the fenced first run.
      "/slow": [409, 201],
      "/held": [201, 201],
      "/tx": [201],
    });
    expect([...events].sort()).toEqual(
      [
        "executed",
        "replayed",
        "mismatch",
        "invalid",
        "too-large",
        "executed",
        "rate-limited",
        "released",
        "store-error",
        "conflict",
        "executed",
        "recovered",
        "executed",
        "fenced",
        "executed",
      ].sort(),
    );
  });

  it("makes one oncely span per guarded request, a child of the request's server span", () => {
    const servers = spans.filter(isServerSpan);
    expect(servers).toHaveLength(14);
    expect(requestSpans()).toHaveLength(14);
    for (const server of servers) {
      const children = childrenOf(server);
      expect(children, server.name).toHaveLength(1);
      expect(children[0]!.kind).toBe(SpanKind.INTERNAL);
      expect(children[0]!.spanContext().traceId).toBe(server.spanContext().traceId);
    }
  });

  it("executed, replayed and mismatch: decision, route, hashes, status, timings; claim and complete as children", () => {
    const [executed, replayed, mismatch] = forKey(driven.keys.charge).sort((a, b) => compareTime(a, b));
    for (const span of [executed!, replayed!, mismatch!]) {
      expect(span.name).toBe("oncely POST /charges");
      expect(span.attributes).toMatchObject({
        "oncely.route": "POST /charges",
        "oncely.key_hash": keyHash(driven.keys.charge),
        "oncely.store.name": "memory",
        "http.request.method": "POST",
      });
      expect(span.attributes["oncely.duration"]).toBeGreaterThanOrEqual(0);
      expect(span.attributes["oncely.store.duration"]).toBeGreaterThanOrEqual(0);
      expect(span.attributes["oncely.duration"]).toBeGreaterThanOrEqual(
        span.attributes["oncely.store.duration"] as number,
      );
      expect(span.status.code).toBe(SpanStatusCode.UNSET);
    }
    expect(executed!.attributes).toMatchObject({ "oncely.decision": "executed", "http.response.status_code": 201 });
    expect(executed!.attributes["oncely.token"]).toEqual(expect.any(Number));
    expect(operations(executed!)).toEqual([
      ["claim", "claimed"],
      ["complete", "held"],
    ]);
    expect(replayed!.attributes).toMatchObject({ "oncely.decision": "replayed", "http.response.status_code": 201 });
    expect(operations(replayed!)).toEqual([["claim", "completed"]]);
    expect(mismatch!.attributes).toMatchObject({ "oncely.decision": "mismatch", "http.response.status_code": 422 });
    expect(operations(mismatch!)).toEqual([["claim", "completed"]]);
  });

  it("store operation spans: named, attributed, timed within their request span", () => {
    const [executed] = forKey(driven.keys.charge);
    for (const child of childrenOf(executed!)) {
      expect(child.name).toBe(`oncely.store ${child.attributes["oncely.store.operation.name"]}`);
      expect(child.attributes["oncely.store.name"]).toBe("memory");
      expect(child.kind).toBe(SpanKind.INTERNAL);
      // The SDK anchors each span's clock to Date.now() when it starts, so two spans' times are comparable to 1 ms.
      expect(compareTime(child, executed!)).toBeGreaterThanOrEqual(-CLOCK_PRECISION_NS);
      expect(endOf(child)).toBeLessThanOrEqual(endOf(executed!) + CLOCK_PRECISION_NS);
    }
  });

  it("invalid, too-large and rate-limited: refused before any store operation", () => {
    const invalid = requestSpans().filter((span) => decision(span) === "invalid");
    expect(invalid).toHaveLength(1);
    expect(invalid[0]!.name).toBe("oncely POST /required");
    expect(invalid[0]!.attributes).toMatchObject({
      "oncely.route": "POST /required",
      "http.response.status_code": 400,
    });
    expect(invalid[0]!.attributes["oncely.key_hash"]).toBeUndefined();
    expect(childrenOf(invalid[0]!)).toEqual([]);

    const [tooLarge] = forKey(driven.keys.tooLarge);
    // No `route` option: the span is named by the method only, the route attribute keeps the path.
    expect(tooLarge!.name).toBe("oncely POST");
    expect(tooLarge!.attributes).toMatchObject({
      "oncely.decision": "too-large",
      "oncely.route": "POST /small",
      "http.response.status_code": 413,
    });
    expect(childrenOf(tooLarge!)).toEqual([]);

    const limited = forKey(driven.keys.limited).map(decision).sort();
    expect(limited).toEqual(["executed", "rate-limited"]);
    const rateLimited = forKey(driven.keys.limited).find((span) => decision(span) === "rate-limited")!;
    expect(rateLimited.attributes["http.response.status_code"]).toBe(429);
    expect(childrenOf(rateLimited)).toEqual([]);
  });

  it("released: the handler threw, the claim was released before Express answered", () => {
    const [released] = forKey(driven.keys.throws);
    // Released as the error reached Express's `next`, before any answer: the span ends there, without a status.
    expect(released!.attributes).toMatchObject({
      "oncely.decision": "released",
      "oncely.reason": "the handler failed",
      "error.type": "Error",
    });
    expect(released!.status.code).toBe(SpanStatusCode.UNSET);
    expect(operations(released!)).toEqual([
      ["claim", "claimed"],
      ["release", "held"],
    ]);
  });

  it("store-error: 503 on the request span, the failed claim recorded on its own span", () => {
    const [failed] = forKey(driven.keys.storeError);
    expect(failed!.attributes).toMatchObject({
      "oncely.decision": "store-error",
      "http.response.status_code": 503,
      "error.type": "store_unavailable",
    });
    expect(failed!.status.code).toBe(SpanStatusCode.ERROR);
    const [claim] = childrenOf(failed!);
    expect(claim!.attributes).toMatchObject({ "oncely.store.operation.name": "claim", "error.type": "Error" });
    expect(claim!.status).toMatchObject({ code: SpanStatusCode.ERROR, message: "connection refused (injected fault)" });
    expect(claim!.events.map((event) => event.name)).toEqual(["exception"]);
  });

  it("conflict: 409 while the first request runs; the first one is executed", () => {
    const slow = forKey(driven.keys.slow);
    const conflict = slow.find((span) => decision(span) === "conflict")!;
    expect(conflict.attributes["http.response.status_code"]).toBe(409);
    expect(operations(conflict)).toEqual([["claim", "in-flight"]]);
    const executed = slow.find((span) => decision(span) === "executed")!;
    // The executed span lasts from the claim to the stored outcome, the handler's wait included.
    expect(compareTime(executed, conflict)).toBeLessThan(0);
    expect(endOf(executed)).toBeGreaterThan(endOf(conflict));
  });

  it("recovered and fenced: the takeover is marked recovered; the late first result is fenced out", () => {
    const held = forKey(driven.keys.held);
    expect(held.map(decision).sort()).toEqual(["executed", "fenced"]);
    const takeover = held.find((span) => decision(span) === "executed")!;
    const fenced = held.find((span) => decision(span) === "fenced")!;
    expect(takeover.attributes["oncely.recovered"]).toBe(true);
    expect(operations(takeover)).toEqual([
      ["claim", "claimed"],
      ["complete", "held"],
    ]);
    expect(fenced.attributes["oncely.recovered"]).toBeUndefined();
    expect(fenced.attributes).toMatchObject({ "error.type": "fenced", "http.response.status_code": 201 });
    expect(fenced.attributes["oncely.token"]).toBeLessThan(takeover.attributes["oncely.token"] as number);
    expect(fenced.status.code).toBe(SpanStatusCode.ERROR);
    expect(operations(fenced)).toEqual([
      ["claim", "claimed"],
      ["complete", "lost"],
    ]);
  });

  it("a transactional store keeps claimInTransaction through the wrapper: claim and commit in one transaction", () => {
    const [executed] = forKey(driven.keys.tx);
    expect(decision(executed!)).toBe("executed");
    expect(operations(executed!)).toEqual([
      ["claim_in_transaction", "claimed"],
      ["commit", undefined],
    ]);
  });

  it("never records a key, a body or a handler's error message: keys only as their SHA-256 prefix", async () => {
    const exported = JSON.stringify(
      spans.map((span) => ({ name: span.name, attributes: span.attributes, events: span.events, status: span.status })),
    );
    const metrics = JSON.stringify(
      await Promise.all(["oncely.decisions", "oncely.store.operation.duration"].map(sdk.metric)),
    );
    expect(exported).not.toContain(SECRET);
    expect(metrics).not.toContain(SECRET);
    expect(keyHash(driven.keys.charge)).toMatch(/^[0-9a-f]{16}$/);
  });

  it("counts every decision by outcome and route: oncely.decisions", async () => {
    const points = await sdk.sums("oncely.decisions");
    const point = (decision: string, route?: string) => ({
      attributes: { "oncely.decision": decision, ...(route ? { "oncely.route": route } : {}) },
      value: 1,
    });
    expect(sortPoints(points)).toEqual(
      sortPoints([
        point("executed", "POST /charges"),
        point("replayed", "POST /charges"),
        point("mismatch", "POST /charges"),
        point("store-error", "POST /charges"),
        point("invalid", "POST /required"),
        // POST /small has no `route` option: its path stays out of metrics.
        point("too-large"),
        point("executed", "POST /limited"),
        point("rate-limited", "POST /limited"),
        point("released", "POST /throws"),
        point("executed", "POST /slow"),
        point("conflict", "POST /slow"),
        point("recovered", "POST /held"),
        point("executed", "POST /held"),
        point("fenced", "POST /held"),
        point("executed", "POST /tx"),
      ]),
    );
  });

  it("times every store operation in seconds by operation and store: oncely.store.operation.duration", async () => {
    const points = (await sdk.histogram("oncely.store.operation.duration")).filter(
      (point) => point.attributes["oncely.store.operation.name"] !== "renew",
    );
    const counts = Object.fromEntries(
      points.map((point) => [
        `${point.attributes["oncely.store.operation.name"]} ${point.attributes["oncely.store.name"]}${
          point.attributes["error.type"] ? ` ${point.attributes["error.type"]}` : ""
        }`,
        point.value.count,
      ]),
    );
    // Claims: 3 on /charges, 1 on /limited, 1 on /throws, 2 on /slow, 2 on /held; one failed by injection.
    expect(counts).toEqual({
      "claim memory": 9,
      "claim memory Error": 1,
      "complete memory": 5,
      "release memory": 1,
      "claim_in_transaction memory": 1,
      "commit memory": 1,
    });
    for (const point of points) {
      expect(point.unit).toBe("s");
      expect(point.value.min).toBeGreaterThanOrEqual(0);
      // Seconds, not milliseconds: an in-memory operation takes far less than one.
      expect(point.value.max).toBeLessThan(1);
      // The store's buckets (from 100 µs) reach the sdk: its default boundaries start at 0 and 5.
      expect(point.value.buckets.boundaries[0]).toBe(0.0001);
    }
  });

  it("every request counted in by oncely.requests.active is counted out", async () => {
    const points = await sdk.sums("oncely.requests.active");
    expect(points.length).toBeGreaterThan(0);
    for (const point of points) expect(point.value, JSON.stringify(point.attributes)).toBe(0);
    expect(points.map((point) => point.attributes).find((a) => a["oncely.route"] === "POST /charges")).toEqual({
      "http.request.method": "POST",
      "oncely.route": "POST /charges",
    });
  });
});

describe("oncely/otel: requests in flight, pass-through, runs and stores", () => {
  let app: DecisionApp;
  const telemetry = createTelemetry({ tracerProvider: sdk.tracerProvider, meterProvider: sdk.meterProvider });

  beforeEach(async () => {
    sdk.spans.reset();
    app = await startDecisionApp((options) => telemetry.createIdempotency(options));
  });
  afterEach(() => app.close());

  const active = async (route: string) =>
    (await sdk.sums("oncely.requests.active")).find((point) => point.attributes["oncely.route"] === route)?.value;

  it("counts a request in flight while its handler runs, and out once its outcome is stored", async () => {
    const before = (await active("POST /slow")) ?? 0;
    const pending = fetch(`${app.url}/slow`, {
      method: "POST",
      headers: { "content-type": "application/json", "idempotency-key": "in-flight-1" },
      body: "{}",
    });
    await until(async () => (await active("POST /slow")) === before + 1);
    app.gates.slow.open();
    expect((await pending).status).toBe(201);
    await until(async () => (await active("POST /slow")) === before);
  });

  it("counts requests of two routes with equal attributes into one point", async () => {
    const idem = telemetry.createIdempotency({ store: new MemoryStore() });
    let open!: () => void;
    const opened = new Promise<void>((resolve) => {
      open = resolve;
    });
    const held = async (_req: unknown, res: { end(body: string): void }) => {
      await opened;
      res.end("done");
    };
    // Two guards (two `idem.route()` calls), neither named: both count as { http.request.method: "POST" }.
    const handlers = { "/a": withIdempotency(idem, held), "/b": withIdempotency(idem, held) };
    const server = await listen(createServer((req, res) => void handlers[req.url as "/a" | "/b"](req, res)));
    const unnamed = async () =>
      (await sdk.sums("oncely.requests.active")).find((point) => point.attributes["oncely.route"] === undefined)
        ?.value ?? 0;
    try {
      const before = await unnamed();
      const requests = ["/a", "/b"].map((path) =>
        fetch(`${server.url}${path}`, { method: "POST", headers: { "idempotency-key": `${path}-1` } }),
      );
      await until(async () => (await unnamed()) === before + 2);
      open();
      await Promise.all(requests);
      await until(async () => (await unnamed()) === before);
    } finally {
      await server.close();
    }
  });

  it("makes no span for what oncely passes through: unguarded methods, no key on an optional route", async () => {
    await fetch(`${app.url}/charges`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    await fetch(`${app.url}/charges`, { headers: { "idempotency-key": "get-request" } });
    expect(sdk.spans.getFinishedSpans().filter(isOncelySpan)).toEqual([]);
  });

  it("idem.run: a span per run; the work's own spans and the store operations are its children", async () => {
    const tracer = sdk.tracerProvider.getTracer("test-work");
    const work = () => {
      tracer.startSpan("send email").end();
      return { sent: true };
    };
    expect(await app.idem.run(`job-${SECRET}`, work, { name: "send-receipt" })).toEqual({ sent: true });
    expect(await app.idem.run(`job-${SECRET}`, work, { name: "send-receipt" })).toEqual({ sent: true });
    const spans = sdk.spans.getFinishedSpans();
    const runs = spans.filter((span) => span.name === "oncely run send-receipt");
    expect(runs.map((span) => span.attributes["oncely.decision"])).toEqual(["executed", "replayed"]);
    expect(runs[0]!.attributes).toMatchObject({
      "oncely.route": "send-receipt",
      "oncely.key_hash": keyHash(`job-${SECRET}`),
    });
    const children = spans.filter((span) => parentOf(span) === runs[0]!.spanContext().spanId).map((span) => span.name);
    expect(children).toEqual(["oncely.store claim", "send email", "oncely.store complete"]);
    const points = await sdk.sums("oncely.decisions");
    expect(
      points.find(
        (p) => p.attributes["oncely.route"] === "send-receipt" && p.attributes["oncely.decision"] === "replayed",
      )?.value,
    ).toBe(1);
  });

  it("telemetry.store keeps the store's name, its own members, and claimInTransaction only where it exists", async () => {
    const memory = new MemoryStore();
    const traced = telemetry.store(memory);
    expect(traced.name).toBe("memory");
    expect(traced).toBeInstanceOf(MemoryStore);
    expect(
      "claimInTransaction" in traced && typeof (traced as { claimInTransaction?: unknown }).claimInTransaction,
    ).toBe(false);
    expect(telemetry.store(traced)).toBe(traced);
    expect(typeof (telemetry.store(app.store) as { claimInTransaction?: unknown }).claimInTransaction).toBe("function");
    expect(await traced.purgeExpired({ limit: 10 })).toBe(0);
    expect(traced.size).toBe(0);
    const [purge] = sdk.spans.getFinishedSpans().filter((span) => span.name === "oncely.store purge_expired");
    expect(purge!.attributes).toMatchObject({
      "oncely.store.name": "memory",
      "oncely.store.operation.name": "purge_expired",
    });
    await traced.close();
  });

  it("node adapter: a thrown handler is abandoned; the span has the error's type, never its message", async () => {
    const idem = telemetry.createIdempotency({ store: new MemoryStore() });
    const handler = withIdempotency(idem, () => {
      throw new TypeError(`handler failed ${SECRET}`);
    });
    const server = await listen(createServer((req, res) => void handler(req, res).catch(() => {})));
    try {
      const key = `node-${SECRET}`;
      const response = await fetch(`${server.url}/charges`, { method: "POST", headers: { "idempotency-key": key } });
      expect(response.status).toBe(500);
      await until(() => sdk.spans.getFinishedSpans().some((span) => span.name === "oncely POST"));
      const spans = sdk.spans.getFinishedSpans();
      const released = spans.find((span) => span.name === "oncely POST")!;
      expect(released.attributes).toMatchObject({
        "oncely.decision": "released",
        "oncely.reason": "the handler failed",
        "error.type": "TypeError",
        "oncely.key_hash": keyHash(key),
      });
      const children = spans.filter((span) => parentOf(span) === released.spanContext().spanId);
      expect(children.map((span) => span.name)).toEqual(["oncely.store claim", "oncely.store release"]);
      expect(JSON.stringify(spans.map((span) => [span.attributes, span.events]))).not.toContain(SECRET);
      const active = await sdk.sums("oncely.requests.active");
      expect(active.find((point) => point.attributes["oncely.route"] === undefined)?.value).toBe(0);
    } finally {
      await server.close();
    }
  });

  it("a networked store's operations are CLIENT spans, and its driver's own spans nest under them", async () => {
    const tracer = sdk.tracerProvider.getTracer("test-driver");
    const memory = new MemoryStore();
    // A store as a driver-backed one looks to OpenTelemetry: its client library makes a span per call.
    const networked: Store = {
      name: "networked",
      claim: (...args) => {
        tracer.startSpan("driver EVALSHA").end();
        return memory.claim(...args);
      },
      renew: (...args) => memory.renew(...args),
      complete: (...args) => memory.complete(...args),
      release: (...args) => memory.release(...args),
      get: (...args) => memory.get(...args),
      delete: (...args) => memory.delete(...args),
      list: (...args) => memory.list(...args),
      purgeExpired: (...args) => memory.purgeExpired(...args),
      close: () => memory.close(),
    };
    const idem = telemetry.createIdempotency({ store: networked });
    await idem.run("networked-1", () => 1);
    const spans = sdk.spans.getFinishedSpans();
    const claim = spans.find((span) => span.name === "oncely.store claim")!;
    expect(claim.kind).toBe(SpanKind.CLIENT);
    expect(claim.attributes["oncely.store.name"]).toBe("networked");
    const driver = spans.find((span) => span.name === "driver EVALSHA")!;
    expect(parentOf(driver)).toBe(claim.spanContext().spanId);
    const run = spans.find((span) => span.name === "oncely run run")!;
    expect(parentOf(claim)).toBe(run.spanContext().spanId);
  });

  it("a scope function that throws fails the request's span; so does a run with an empty key", async () => {
    const idem = telemetry.createIdempotency({
      store: new MemoryStore(),
      scope: () => {
        throw new RangeError("no account on this request");
      },
    });
    const handler = withIdempotency(idem, (_req, res) => void res.end("never"));
    const server = await listen(
      createServer((req, res) =>
        handler(req, res).catch(() => {
          res.statusCode = 500;
          res.end();
        }),
      ),
    );
    try {
      const response = await fetch(`${server.url}/charges`, { method: "POST", headers: { "idempotency-key": "k" } });
      expect(response.status).toBe(500);
      await until(() => sdk.spans.getFinishedSpans().some((span) => span.name === "oncely POST"));
      const [failed] = sdk.spans.getFinishedSpans().filter((span) => span.name === "oncely POST");
      // oncely answers it (500, check-failed) rather than throwing it to the framework; its message stays in the log.
      expect(failed!.attributes["error.type"]).toBe("RangeError");
      expect(failed!.attributes["oncely.decision"]).toBe("check-failed");
      expect(failed!.attributes["http.response.status_code"]).toBe(500);
      expect(failed!.status).toEqual({
        code: SpanStatusCode.ERROR,
        message: "a scope or fingerprint function threw, or the request body could not be read",
      });
    } finally {
      await server.close();
    }
    await expect(idem.run("", () => 1, { name: "empty-key" })).rejects.toMatchObject({ code: "invalid_key" });
    const [run] = sdk.spans.getFinishedSpans().filter((span) => span.name === "oncely run empty-key");
    expect(run!.attributes["error.type"]).toBe("invalid_key");
    const active = await sdk.sums("oncely.requests.active");
    expect(active.find((point) => point.attributes["oncely.route"] === "empty-key")?.value).toBe(0);
  });

  it("a refused run keeps its decision: a conflict is not a failure", async () => {
    let release!: () => void;
    const running = app.idem.run("busy", () => new Promise<void>((resolve) => (release = resolve)), { name: "busy" });
    await until(() => release !== undefined);
    await expect(app.idem.run("busy", () => undefined, { name: "busy" })).rejects.toMatchObject({ code: "in_flight" });
    release();
    await running;
    const runs = sdk.spans.getFinishedSpans().filter((span) => span.name === "oncely run busy");
    expect(runs.map((span) => span.attributes["oncely.decision"])).toEqual(["conflict", "executed"]);
    expect(runs.map((span) => span.status.code)).toEqual([SpanStatusCode.UNSET, SpanStatusCode.UNSET]);
    expect(runs[0]!.events).toEqual([]);
  });

  it("refuses the options the engine refuses, with the engine's message", () => {
    expect(() => telemetry.createIdempotency({} as never)).toThrow("Expected `store` to be an oncely store");
    expect(() => telemetry.createIdempotency({ store: app.store, onEvent: "log" as never })).toThrow(
      "Expected `onEvent` to be a function",
    );
    expect(() => telemetry.createIdempotency({ store: app.store, ttl: "soon" as never })).toThrow(/ttl/);
  });
});

const timeOf = (time: [number, number]) => time[0] * 1e9 + time[1];
const endOf = (span: ReadableSpan) => timeOf(span.endTime);
const CLOCK_PRECISION_NS = 1_000_000;
function compareTime(a: ReadableSpan, b: ReadableSpan) {
  return timeOf(a.startTime) - timeOf(b.startTime);
}

async function until(condition: () => boolean | Promise<boolean>, timeout = 5000) {
  const deadline = Date.now() + timeout;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
