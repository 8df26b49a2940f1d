import { createServer } from "node:http";
import express, { type RequestHandler } from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { idempotency } from "../../src/adapters/express/index.js";
import { createIdempotency, type Idempotency, MemoryStore } from "../../src/index.js";
import { documentIdempotency } from "../../src/openapi/index.js";
import { RedisStore } from "../../src/stores/redis/index.js";
import { listen } from "../http/servers.js";
import { freePort } from "../support/free-port.js";
import { validateAgainst } from "./schema-validator.js";

// The generated document against what the server really answers: an Express app over a real socket is driven into
// each problem oncely sends, and each answer is validated against the document's schema and headers for that
// operation and status, with both OpenAPI versions' JSON Schema dialects.

type JsonObject = Record<string, unknown>;

const created = (path: string): JsonObject => ({
  post: {
    requestBody: { content: { "application/json": { schema: { type: "object" } } } },
    responses: { "201": { description: `Created by ${path}` } },
  },
});
const ROUTES = ["/charges", "/slow", "/large-responses", "/small-requests", "/limited", "/full", "/down"];

/** The app's own document, before oncely's part is added. */
function appDocument(version: string): JsonObject {
  return {
    openapi: version,
    info: { title: "Payments", version: "1" },
    paths: Object.fromEntries(ROUTES.map((path) => [path, created(path)])),
  };
}

let url: string;
let close: () => Promise<void>;
let releaseSlow: () => void = () => {};
let slowStarted: Promise<void>;
const engines: Idempotency[] = [];

beforeAll(async () => {
  const idem = createIdempotency({ store: new MemoryStore(), logger: false });
  const full = createIdempotency({ store: new MemoryStore({ maxEntries: 1 }), logger: false });
  const down = createIdempotency({
    store: new RedisStore({ url: `redis://127.0.0.1:${await freePort()}`, timeout: 500 }),
    logger: false,
  });
  engines.push(idem, full, down);

  const answer: RequestHandler = (req, res) => {
    res.status(201).json({ id: "ch_1", echo: req.body });
  };
  let started: () => void = () => {};
  slowStarted = new Promise((resolve) => {
    started = resolve;
  });
  const app = express();
  app.use(express.json());
  app.post("/charges", idempotency(idem, { required: true }), answer);
  app.post("/slow", idempotency(idem), async (_req, res) => {
    started();
    await new Promise<void>((resolve) => {
      releaseSlow = resolve;
    });
    res.status(201).json({ id: "ch_slow" });
  });
  app.post("/large-responses", idempotency(idem, { maxResponseBytes: 16 }), (_req, res) => {
    res.status(201).json({ id: "ch_large", padding: "x".repeat(64) });
  });
  app.post("/small-requests", idempotency(idem, { maxRequestBytes: 8 }), answer);
  app.post("/limited", idempotency(idem, { rateLimit: { max: 1, window: "1h" } }), answer);
  app.post("/full", idempotency(full), answer);
  app.post("/down", idempotency(down), answer);
  const server = await listen(createServer(app));
  url = server.url;
  close = server.close;
});

afterAll(async () => {
  releaseSlow();
  await close?.();
  for (const engine of engines) await engine.close();
});

const post = (path: string, key: string | undefined, body: unknown = { amount: 1000 }) =>
  fetch(`${url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(key === undefined ? {} : { "idempotency-key": key }) },
    body: JSON.stringify(body),
  });

/** The target of a local `$ref`, or the value itself. */
function resolve(document: JsonObject, value: unknown): JsonObject {
  let target = value as JsonObject;
  while (typeof target["$ref"] === "string") {
    target = (target["$ref"] as string)
      .slice(2)
      .split("/")
      .reduce((node: JsonObject, part) => node[part] as JsonObject, document);
  }
  return target;
}

/**
 * What the document says `path` answers with `response`'s status, checked against the response: its content type,
 * its body against the schema, each header the document declares (present when required, valid against its schema).
 * Returns the problem body.
 */
function expectDocumented(document: JsonObject, path: string, response: Answer): JsonObject {
  const operation = resolve(document, (document["paths"] as Record<string, JsonObject>)[path]!["post"]);
  const documented = (operation["responses"] as JsonObject)[String(response.status)];
  expect(documented, `${path} documents ${response.status}`).toBeDefined();
  const described = resolve(document, documented);
  for (const [name, header] of Object.entries((described["headers"] ?? {}) as JsonObject)) {
    const { required, schema } = resolve(document, header);
    const value = response.headers.get(name);
    if (required) expect(value, `${name} on ${response.status}`).not.toBeNull();
    if (value === null) continue;
    const parsed = (schema as JsonObject)["type"] === "integer" ? Number(value) : value;
    expect(validateAgainst(document, schema, parsed), `${name}: ${value}`).toEqual([]);
  }
  const type = response.headers.get("content-type")!.split(";")[0]!;
  const content = described["content"] as Record<string, { schema: unknown }> | undefined;
  const body = JSON.parse(response.body) as JsonObject;
  if (content === undefined) return body;
  expect(Object.keys(content)).toContain(type);
  expect(validateAgainst(document, content[type]!.schema, body)).toEqual([]);
  return body;
}

/** A response as received, its body read. */
interface Answer {
  status: number;
  headers: Headers;
  body: string;
}

const received = async (pending: Promise<Response>): Promise<Answer> => {
  const response = await pending;
  return { status: response.status, headers: response.headers, body: await response.text() };
};

/** Every answer the routes give, in the order that produces them, with the problem `code` each must carry. */
async function answers(): Promise<{ path: string; response: Answer; code?: string }[]> {
  const out: { path: string; response: Answer; code?: string }[] = [];
  const send = async (path: string, key: string | undefined, code?: string, body?: unknown) => {
    out.push({ path, response: await received(post(path, key, body)), code });
  };
  await send("/charges", "first");
  await send("/charges", "first");
  await send("/charges", undefined, "missing_key");
  await send("/charges", "two words", "invalid_key");
  await send("/charges", "k".repeat(256), "invalid_key");
  await send("/charges", "first", "fingerprint_mismatch", { amount: 1 });

  const first = received(post("/slow", "slow"));
  await slowStarted;
  await send("/slow", "slow", "in_flight");
  releaseSlow();
  out.push({ path: "/slow", response: await first });

  await send("/large-responses", "large");
  await send("/large-responses", "large", "response_not_kept");
  await send("/small-requests", "small", "request_too_large");
  await send("/limited", "limited");
  await send("/limited", "limited", "rate_limited");
  await send("/full", "full-1");
  await send("/full", "full-2", "store_full");
  await send("/down", "down", "store_unavailable");
  return out;
}

let collected: Awaited<ReturnType<typeof answers>>;
beforeAll(async () => {
  collected = await answers();
});

describe.each(["3.0.3", "3.1.0"])(
  "OpenAPI %s: every answer of a guarded route is the one the document describes",
  (version) => {
    const document = documentIdempotency(appDocument(version), {
      operations: ({ path }) => ({ required: path === "/charges" }),
    });

    it("each problem oncely sends validates against the document's schema for its status", () => {
      const statuses = new Set<number>();
      for (const { path, response, code } of collected) {
        const body = expectDocumented(document, path, response);
        if (code === undefined) {
          expect(response.status, `${path}: ${JSON.stringify(body)}`).toBe(201);
          continue;
        }
        // Either store failure the Redis down route can give (refused, or slower than its timeout) is documented.
        const codes = code === "store_unavailable" ? ["store_unavailable", "store_timeout"] : [code];
        expect(codes, `${path}: ${JSON.stringify(body)}`).toContain(body["code"]);
        statuses.add(response.status);
      }
      expect([...statuses].sort()).toEqual([400, 409, 410, 413, 422, 429, 503]);
    });

    it("a replay carries Idempotent-Replayed: true, the header the success response documents", async () => {
      const key = `replay-${version}-${Math.random()}`;
      await post("/charges", key);
      const replay = await received(post("/charges", key));
      expect(replay.headers.get("idempotent-replayed")).toBe("true");
      const success = resolve(document, ((document["paths"] as JsonObject)["/charges"] as JsonObject)["post"]);
      const header = ((success["responses"] as JsonObject)["201"] as JsonObject)["headers"] as JsonObject;
      const { schema } = resolve(document, header["Idempotent-Replayed"]);
      expect(validateAgainst(document, schema, replay.headers.get("idempotent-replayed"))).toEqual([]);
      expectDocumented(document, "/charges", replay);
    });
  },
);
