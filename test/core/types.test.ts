import type { IncomingMessage } from "node:http";
import type { Request as ExpressRequest } from "express";
import type { FastifyRequest } from "fastify";
import type { Context as HonoContext } from "hono";
import type { Context as KoaContext } from "koa";
import type { PoolClient } from "pg";
import { describe, expectTypeOf, it } from "vitest";
import { idempotency as expressIdempotency } from "../../src/adapters/express/index.js";
import type { FastifyRouteIdempotency } from "../../src/adapters/fastify/index.js";
import { withIdempotency as fetchIdempotency } from "../../src/adapters/fetch/index.js";
import { idempotency as honoIdempotency } from "../../src/adapters/hono/index.js";
import { idempotency as koaIdempotency } from "../../src/adapters/koa/index.js";
import { withIdempotency as nodeIdempotency } from "../../src/adapters/node/index.js";
import {
  createIdempotency,
  type Decision,
  type Duration,
  type IdempotencyContext,
  type IdempotencyOptions,
  InFlightError,
  MemoryStore,
  type RouteOptions,
  type TransactionClient,
} from "../../src/index.js";
// Importing the PostgreSQL store's module types `context.transaction` as pg's PoolClient.
import type { PostgresStore } from "../../src/stores/postgres/index.js";

// These are checked by `npm run check` (tsc over test/); the runtime part only keeps vitest from calling the file empty.
describe("public types", () => {
  it("types the engine's options, results and context as documented", () => {
    const idem = createIdempotency({ store: new MemoryStore(), ttl: "24h", lease: 30_000, onInFlight: "wait" });
    expectTypeOf(idem.run("job-1", () => ({ sent: true }))).resolves.toEqualTypeOf<{ sent: boolean }>();
    expectTypeOf(idem.route({ required: true }).begin).returns.resolves.toEqualTypeOf<Decision>();
    expectTypeOf<IdempotencyContext["key"]>().toEqualTypeOf<string>();
    expectTypeOf<TransactionClient>().toEqualTypeOf<PoolClient>();
    expectTypeOf<IdempotencyContext["transaction"]>().toEqualTypeOf<PoolClient | undefined>();
    expectTypeOf<PostgresStore["claimInTransaction"]>().toBeFunction();
    expectTypeOf(new InFlightError("x")).toMatchTypeOf<Error>();
    expectTypeOf<RouteOptions["ttl"]>().toEqualTypeOf<Duration | undefined>();
    expectTypeOf<"24h">().toMatchTypeOf<Duration>();
    expectTypeOf<"soon">().not.toMatchTypeOf<Duration>();
  });

  it("refuses option values the engine would refuse", () => {
    // @ts-expect-error onInFlight is "reject" or "wait"
    const inFlight: RouteOptions = { onInFlight: "later" };
    // @ts-expect-error store is required
    const noStore: IdempotencyOptions = { ttl: "1h" };
    // @ts-expect-error encryption needs `current` and `keys`
    const noKeys: IdempotencyOptions = { store: new MemoryStore(), encryption: { current: "a" } };
    expectTypeOf([inFlight, noStore, noKeys]).toBeArray();
  });

  it("types request.raw in scope as the framework's own request, per adapter", () => {
    const store = new MemoryStore();
    const idem = createIdempotency<ExpressRequest>({ store, scope: (request) => request.raw.get("x-account") ?? "-" });
    expressIdempotency(idem, {
      scope: (request) => {
        expectTypeOf(request.raw).toEqualTypeOf<ExpressRequest>();
        return 1;
      },
    });
    honoIdempotency(idem, {
      scope: (request) => {
        expectTypeOf(request.raw).toEqualTypeOf<HonoContext>();
        return 1;
      },
    });
    koaIdempotency(idem, {
      scope: (request) => {
        expectTypeOf(request.raw).toEqualTypeOf<KoaContext>();
        return 1;
      },
    });
    fetchIdempotency(idem, () => new Response(), {
      scope: (request) => {
        expectTypeOf(request.raw).toEqualTypeOf<Request>();
        return 1;
      },
    });
    nodeIdempotency(idem, () => {}, {
      scope: (request) => {
        expectTypeOf(request.raw).toEqualTypeOf<IncomingMessage>();
        return 1;
      },
    });
    const fastifyRoute: FastifyRouteIdempotency = {
      scope: (request) => {
        expectTypeOf(request.raw).toEqualTypeOf<FastifyRequest>();
        return 1;
      },
    };
    expectTypeOf(fastifyRoute).toBeObject();
    // A scope must name a principal: a string, a number or a bigint.
    // @ts-expect-error undefined is refused (it would share one key space between tenants)
    const noPrincipal: RouteOptions = { scope: () => undefined };
    expectTypeOf(noPrincipal).toBeObject();
    expectTypeOf<ReturnType<NonNullable<RouteOptions["scope"]>>>().toEqualTypeOf<
      string | number | bigint | Promise<string | number | bigint>
    >();
  });
});
