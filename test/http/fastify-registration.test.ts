import { randomUUID } from "node:crypto";
import fastify5, { type FastifyInstance, type FastifyPluginAsync } from "fastify";
import fastify4 from "fastify4";
import { afterEach, describe, expect, it, vi } from "vitest";
import { idempotency } from "../../src/adapters/fastify/index.js";
import { createIdempotency, MemoryStore } from "../../src/index.js";

// Each registration style a user may write, over a real socket: a route the user meant to guard is guarded, or the
// app refuses to start with a message saying what to change. Never a silent second run of the handler.

type FastifyFactory = (options?: object) => FastifyInstance;
const versions: [string, FastifyFactory][] = [
  ["fastify 5", fastify5 as unknown as FastifyFactory],
  ["fastify 4", fastify4 as unknown as FastifyFactory],
];

let app: FastifyInstance | undefined;
afterEach(async () => {
  app?.server.closeAllConnections();
  await app?.close();
  app = undefined;
  vi.restoreAllMocks();
});

/** A handler that counts its runs and answers 201 with the count. */
function counter() {
  const runs = { count: 0 };
  const handler = async (_request: unknown, reply: { code(status: number): unknown }) => {
    runs.count++;
    reply.code(201);
    return { run: runs.count };
  };
  return { runs, handler };
}

/** Sends the same keyed POST twice, one after the other, over a real socket. */
async function postTwice(url: string, path: string, key = randomUUID()) {
  const send = () =>
    fetch(`${url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", "idempotency-key": key },
      body: '{"amount":100}',
    });
  const first = await send();
  await first.arrayBuffer();
  const second = await send();
  return { first, second, secondBody: await second.text() };
}

const listen = (instance: FastifyInstance) => instance.listen({ port: 0, host: "127.0.0.1" });
const newIdem = () => createIdempotency({ store: new MemoryStore() });
const UNGUARDED = /oncely never saw POST \/charges.*await app\.register\(idempotency\(idem\)\)/s;

for (const [version, factory] of versions) {
  describe(`${version}: registering oncely`, () => {
    it("guards a route declared after an awaited registration", async () => {
      app = factory();
      const { runs, handler } = counter();
      await app.register(idempotency(newIdem()));
      app.post("/charges", handler);
      const { first, second } = await postTwice(await listen(app), "/charges");
      expect([first.status, second.status, second.headers.get("idempotent-replayed")]).toEqual([201, 201, "true"]);
      expect(runs.count).toBe(1);
    });

    it("refuses to start when the registration is not awaited and the route is declared right after it", async () => {
      app = factory();
      const { handler } = counter();
      app.register(idempotency(newIdem()));
      app.post("/charges", handler);
      await expect(app.ready()).rejects.toThrow(UNGUARDED);
    });

    it("refuses to start when oncely is registered after the route", async () => {
      app = factory();
      const { handler } = counter();
      app.post("/charges", handler);
      await app.register(idempotency(newIdem()));
      await expect(app.ready()).rejects.toThrow(UNGUARDED);
    });

    it("names every route it never saw that its methods would guard", async () => {
      app = factory();
      const { handler } = counter();
      app.register(idempotency(newIdem()));
      app.post("/charges", handler);
      app.patch("/charges/:id", handler);
      app.get("/charges", handler);
      const refused = await app.ready().then(
        () => "started",
        (error: Error) => error.message,
      );
      expect(refused).toMatch(/^oncely never saw POST \/charges, PATCH \/charges\/:id: they were declared before/);
      expect(refused).not.toMatch(/GET|HEAD/);
    });

    it("guards routes of a plugin registered after a registration that is not awaited", async () => {
      app = factory();
      const { runs, handler } = counter();
      app.register(idempotency(newIdem()));
      app.register(async (routes) => {
        routes.post("/charges", handler);
      });
      const { second } = await postTwice(await listen(app), "/charges");
      expect(second.headers.get("idempotent-replayed")).toBe("true");
      expect(runs.count).toBe(1);
    });

    it("guards only the plugin it is registered in: a sibling plugin's routes are not guarded (encapsulation)", async () => {
      app = factory();
      const guarded = counter();
      const sibling = counter();
      const idem = newIdem();
      app.register(async (payments) => {
        await payments.register(idempotency(idem));
        payments.post("/charges", guarded.handler);
      });
      app.register(async (search) => {
        search.post("/search", sibling.handler);
      });
      const url = await listen(app);
      await postTwice(url, "/charges");
      await postTwice(url, "/search");
      expect([guarded.runs.count, sibling.runs.count]).toEqual([1, 2]);
    });

    it("takes per-route options from config.idempotency, and false opts a route out", async () => {
      app = factory();
      const required = counter();
      const optedOut = counter();
      await app.register(idempotency(newIdem()));
      app.post("/charges", { config: { idempotency: { required: true } } }, required.handler);
      app.post("/search", { config: { idempotency: false } }, optedOut.handler);
      const url = await listen(app);
      const keyless = await fetch(`${url}/charges`, { method: "POST" });
      expect([keyless.status, required.runs.count]).toEqual([400, 0]);
      await postTwice(url, "/search");
      expect(optedOut.runs.count).toBe(2);
    });

    it("refuses to start for a route declared too early in a child plugin, where oncely is registered after it", async () => {
      app = factory();
      const { handler } = counter();
      const idem = newIdem();
      const payments: FastifyPluginAsync = async (instance) => {
        instance.post("/charges", handler);
        await instance.register(idempotency(idem));
      };
      app.register(payments, { prefix: "/v1" });
      await expect(app.ready()).rejects.toThrow(/oncely never saw POST \/v1\/charges/);
    });
  });
}

describe("fastify 5: when the route list cannot show oncely's hooks", () => {
  it("answers a request to a route oncely never saw with a 500 problem and logs why, instead of running it", async () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    // A custom buildPrettyMeta hides hooks from printRoutes, which the startup check reads.
    const hidden = (fastify5 as unknown as FastifyFactory)({ routerOptions: { buildPrettyMeta: () => ({}) } });
    app = hidden;
    const { runs, handler } = counter();
    hidden.register(idempotency(newIdem()));
    hidden.post("/charges", handler);
    const { first, second, secondBody } = await postTwice(await listen(hidden), "/charges");
    expect([first.status, second.status, runs.count]).toEqual([500, 500, 0]);
    expect(second.headers.get("content-type")).toBe("application/problem+json");
    expect(JSON.parse(secondBody)).toMatchObject({ type: "urn:oncely:problem:unguarded-route", status: 500 });
    expect(logged).toHaveBeenCalledTimes(1);
    expect(String(logged.mock.calls[0]?.[0])).toMatch(UNGUARDED);
  });
});
