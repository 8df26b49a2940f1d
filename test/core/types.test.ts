import type { PoolClient } from "pg";
import { describe, expectTypeOf, it } from "vitest";
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
import type { PostgresStore } from "../../src/stores/postgres.js";

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
});
