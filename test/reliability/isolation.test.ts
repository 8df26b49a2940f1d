import { createHash, randomUUID } from "node:crypto";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createIdempotency, type Idempotency } from "../../src/index.js";
import { STORES } from "../../src/stores/registry.js";
import type { RouteSpec, RunningServer, SpecResponse } from "../http/app-spec.js";
import { seed, sized } from "./budget.js";
import { type Adapter, adapters, portOf } from "./fuzz/adapters.js";
import { type Backend, type BackendName, containsSecret, openBackend } from "./fuzz/backends.js";
import { header, send, type WireResponse } from "./fuzz/wire.js";

/**
 * Issue 8, tenant isolation and secrets.
 * 1. For random pairs of scopes sharing one key, nothing in one scope's answers depends on the other's record: B's
 *    answers (status, headers, body, problem type) are the same in a world where A used the key first and in one
 *    where A never did, and A's record is untouched by B.
 * 2. `Authorization`, `Cookie` and the handler's `Set-Cookie` never reach a store, nor the scope in clear: checked on
 *    the raw contents of every backend (memory internals, the SQLite file, Redis keys and values, PostgreSQL and
 *    MariaDB rows, DynamoDB items from dynalite).
 */
console.log(`[oncely isolation] seed ${seed} (ONCELY_SEED=${seed} replays this run)`);

const encoder = new TextEncoder();

/** The handler: its answer depends only on its own request (tenant, body) and on how often it ran for them. */
function tenantRoutes(): RouteSpec[] {
  const runs = new Map<string, number>();
  const handle = async ({ body, context }: { body: Uint8Array; context?: { key: string; scope?: string } }) => {
    const text = Buffer.from(body).toString();
    const who = `${context?.scope ?? "-"}/${context?.key ?? "-"}`;
    const n = (runs.get(who) ?? 0) + 1;
    runs.set(who, n);
    const sha = createHash("sha256").update(body).digest("hex").slice(0, 16);
    const out: SpecResponse = {
      status: 201,
      headers: [
        ["content-type", "application/json"],
        ["x-handler", "1"],
        ["set-cookie", `session=${sha}; HttpOnly`],
      ],
      body: JSON.stringify({ runForThisScopeAndKey: n, sha, length: text.length }),
    };
    return out;
  };
  return [{ method: "POST", path: "/orders", handle }];
}

interface World {
  idem: Idempotency;
  server: RunningServer;
  port: number;
  backend: Backend;
}

async function startWorld(adapter: Adapter, backendName: BackendName): Promise<World | undefined> {
  const backend = await openBackend(backendName);
  if (!backend) return undefined;
  const idem = createIdempotency({
    store: backend.store,
    scope: (request) => request.headers["x-tenant"] as string, // every request names its tenant
  });
  const server = await adapter.start(idem, tenantRoutes());
  return { idem, server, port: portOf(server), backend };
}

async function stopWorld(world: World | undefined) {
  if (!world) return;
  await world.server.close();
  await world.idem.close();
  await world.backend.close();
}

const post = (world: World, tenant: string, key: string, body: string, extra: [string, string][] = []) =>
  send(world.port, {
    method: "POST",
    path: "/orders",
    headers: [["x-tenant", tenant], ["idempotency-key", key], ["content-type", "application/json"], ...extra],
    body: encoder.encode(body),
  });

/** What a client can observe of an answer, minus what differs between any two answers (the time). */
function observable(response: WireResponse) {
  return {
    status: response.status,
    headers: response.headers.filter(([name]) => !["date", "connection", "keep-alive"].includes(name)),
    body: response.body.toString("latin1"),
  };
}

const problemType = (response: WireResponse) =>
  header(response, "content-type")?.startsWith("application/problem+json")
    ? (JSON.parse(response.body.toString()) as { type: string }).type
    : undefined;

/** Tenants as a principal's id might look: visible ASCII with inner spaces, never surrounding whitespace. */
const tenant = fc
  .string({
    unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
    minLength: 1,
    maxLength: 40,
  })
  .filter((s) => s.trim() === s);
/** Valid keys: a UUID, or visible ASCII not starting with a quote (that would make it an sf-string). */
const key = fc
  .oneof(
    fc.uuid(),
    fc.string({
      unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)),
      minLength: 1,
      maxLength: 200,
    }),
  )
  .filter((k) => !k.startsWith('"'));
/**
 * True when no object in `value` has a `__proto__` or `constructor` key. Fastify (and Nest on Fastify) refuse such
 * JSON with a 400 of their own before oncely sees it (secure-json-parse's prototype-poisoning guard), and fast-check's
 * `jsonValue` does generate `__proto__` keys (seed 180480848 found one).
 */
function frameworksAccept(value: unknown): boolean {
  if (Array.isArray(value)) return value.every(frameworksAccept);
  if (typeof value !== "object" || value === null) return true;
  return Object.keys(value).every(
    (name) =>
      name !== "__proto__" && name !== "constructor" && frameworksAccept((value as Record<string, unknown>)[name]),
  );
}
const body = fc.jsonValue({ maxDepth: 3 }).filter(frameworksAccept);
const pair = fc
  .record({ a: tenant, b: tenant, key, x: body, y: body })
  .filter(({ a, b, x, y }) => a !== b && JSON.stringify(x) !== JSON.stringify(y));

const isolationPlan: { backend: BackendName; adapters: Adapter[]; runs: number }[] = [
  { backend: "memory", adapters, runs: sized(100, 500) },
  {
    backend: "sqlite",
    adapters: adapters.filter((a) => ["express 5", "hono"].includes(a.name)),
    runs: sized(100, 500),
  },
  { backend: "redis", adapters: adapters.filter((a) => ["fastify 5", "koa"].includes(a.name)), runs: sized(100, 500) },
];

for (const plan of isolationPlan) {
  describe(`tenant isolation on the ${plan.backend} store`, () => {
    for (const adapter of plan.adapters) {
      it(`${adapter.name}: ${plan.runs} pairs of scopes sharing a key`, async (test) => {
        // Two worlds, the same app on two empty stores: A uses the key first only in `shared`.
        const shared = await startWorld(adapter, plan.backend);
        const alone = await startWorld(adapter, plan.backend);
        if (!shared || !alone) return test.skip();
        let run = 0;
        try {
          await fc.assert(
            fc.asyncProperty(pair, async ({ a, b, key: raw, x, y }) => {
              // Each run its own key (same shape), so earlier runs' records never meet this one's.
              const k = `${raw.slice(0, 240)}.${++run}`;
              const bodyX = JSON.stringify({ x });
              const bodyY = JSON.stringify({ y });
              const aFirst = await post(shared, a, k, bodyX);
              expect(aFirst.status).toBe(201);
              expect(header(aFirst, "x-handler")).toBe("1");

              const steps = async (world: World) => [
                // B executes with its own body: not 422, not a replay of A.
                await post(world, b, k, bodyY),
                // B's retry replays B's own result.
                await post(world, b, k, bodyY),
                // B with A's body: a mismatch against B's record, never a replay of A's.
                await post(world, b, k, bodyX),
              ];
              const withA = await steps(shared);
              const withoutA = await steps(alone);
              expect(withA[0]!.status).toBe(201);
              expect(header(withA[0]!, "x-handler")).toBe("1");
              expect(header(withA[0]!, "idempotent-replayed")).toBeUndefined();
              expect(JSON.parse(withA[0]!.body.toString()).runForThisScopeAndKey).toBe(1);
              expect(header(withA[1]!, "idempotent-replayed")).toBe("true");
              expect(problemType(withA[2]!)).toBe("urn:oncely:problem:fingerprint-mismatch");
              expect(withA.map(observable)).toEqual(withoutA.map(observable));

              // A's record is untouched by B: A's retry replays A's first answer.
              const aRetry = await post(shared, a, k, bodyX);
              expect(header(aRetry, "idempotent-replayed")).toBe("true");
              expect(aRetry.body.equals(aFirst.body)).toBe(true);
            }),
            { seed, numRuns: plan.runs },
          );
        } finally {
          await stopWorld(shared);
          await stopWorld(alone);
        }
      });
    }
  });
}

const secretBackends: BackendName[] = STORES.map((entry) => entry.name);

for (const backendName of secretBackends) {
  describe(`secrets never reach the ${backendName} store`, () => {
    let backend: Backend | undefined;
    const secrets = {
      authorization: `sk_live_${randomUUID()}`,
      cookie: `sid_${randomUUID()}`,
      setCookie: `setcookie_${randomUUID()}`,
      scope: `tenant-${randomUUID()}`,
    };
    const marker = `stored-body-${randomUUID()}`;
    const keys: string[] = [];

    beforeAll(async () => {
      backend = await openBackend(backendName);
    }, 60_000);
    afterAll(async () => {
      await backend?.close();
    });

    it(`every adapter: Authorization, Cookie, Set-Cookie and the scope in clear appear nowhere in its raw contents`, async (test) => {
      if (!backend) return test.skip();
      // One instance for all adapters: closing an instance closes its store.
      const idem = createIdempotency({
        store: backend.store,
        scope: (request) => request.headers["x-tenant"] as string, // every request names its tenant
      });
      for (const adapter of adapters) {
        const route: RouteSpec = {
          method: "POST",
          path: "/charges",
          handle: async () => ({
            status: 201,
            headers: [
              ["content-type", "application/json"],
              ["set-cookie", `session=${secrets.setCookie}; HttpOnly; Secure`],
              ["x-charge", marker],
            ],
            body: JSON.stringify({ marker }),
          }),
        };
        const server = await adapter.start(idem, [route]);
        try {
          const k = `${adapter.name.replace(/\W/g, "")}-${randomUUID()}`;
          keys.push(k);
          const request = (body: string) =>
            send(portOf(server), {
              method: "POST",
              path: "/charges",
              headers: [
                ["x-tenant", secrets.scope],
                ["idempotency-key", k],
                ["authorization", `Bearer ${secrets.authorization}`],
                ["cookie", `theme=dark; sid=${secrets.cookie}`],
                ["content-type", "application/json"],
              ],
              body: encoder.encode(body),
            });
          const first = await request('{"amount":100}');
          expect(first.status, adapter.name).toBe(201);
          expect(header(first, "set-cookie"), adapter.name).toContain(secrets.setCookie);
          const replay = await request('{"amount":100}');
          expect(header(replay, "idempotent-replayed"), adapter.name).toBe("true");
          expect(header(replay, "set-cookie"), adapter.name).toBeUndefined();
          expect((await request('{"amount":5}')).status, adapter.name).toBe(422);
        } finally {
          await server.close();
        }
      }
      const raw = await backend.raw();
      // The dump is real: it holds what must be stored (each key, the handler's body and header).
      for (const k of keys) expect(containsSecret(raw, k), `key ${k} in the raw dump`).toBe("utf8");
      expect(containsSecret(raw, marker)).toBeDefined();
      for (const [name, secret] of Object.entries(secrets)) {
        expect(containsSecret(raw, secret), `${name} found in ${backendName}'s raw contents`).toBeUndefined();
        // The random part alone too, whatever was written around it.
        expect(containsSecret(raw, secret.slice(-36)), name).toBeUndefined();
      }
      expect((await backend.records()).length).toBe(adapters.length);
    });
  });
}
