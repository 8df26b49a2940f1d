import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import type { ClaimResult } from "../../src/core/store.js";
import { PostgresStore } from "../../src/stores/postgres/index.js";
import { serviceAvailable, services } from "../support/services.js";

// Both found by the model-based store test (test/reliability/store-model): a claim whose snapshot still showed a live
// claim, while another session changed that row and had not yet committed. The claim's upsert waits on the row lock,
// then finds the row changed since its snapshot, and must judge the row as it now stands.
describe.skipIf(!(await serviceAvailable("postgres")))("regression: postgres claim racing a change to its row", () => {
  const pool = new pg.Pool({ connectionString: services.postgres.url, max: 4 });
  const table = `oncely_regress_${randomUUID().slice(0, 8)}`;
  const store = new PostgresStore({ pool, table });
  const options = { lease: 60_000, ttl: 120_000, meta: { key: "k" } };
  afterAll(async () => {
    await store.close();
    await pool.query(`DROP TABLE IF EXISTS "${table}"`);
    await pool.end();
  });

  /**
   * Claims `id`, then has another session make `change` (given the first claim's token) and hold it uncommitted while
   * a second claim of `id` starts and waits on the row lock; commits the change and returns both claims.
   */
  async function claimAcross(
    id: string,
    change: (session: pg.PoolClient, token: number) => Promise<void>,
  ): Promise<{ first: ClaimResult & { status: "claimed" }; second: ClaimResult }> {
    await store.migrate();
    const first = await store.claim(id, "fp", options);
    if (first.status !== "claimed") throw new Error("not claimed");
    const session = await pool.connect();
    await session.query("BEGIN");
    await change(session, first.token);
    const claim = store.claim(id, "fp", options);
    await expect
      .poll(async () => {
        const { rows } = await pool.query(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%prior%'",
        );
        return rows[0].n;
      })
      .toBe(1);
    await session.query("COMMIT");
    session.release();
    return { first, second: await claim };
  }

  // It answered `claimed` with `recovered: true`: nothing was recovered, yet the engine would have reported a takeover
  // (the `recovered` event, `isTakeover` in the handler).
  it("inserts a fresh record, not a recovered one, when the row it saw was deleted meanwhile", async () => {
    const { second } = await claimAcross("deleted", async (session) => {
      await session.query(`DELETE FROM "${table}" WHERE id = 'deleted'`);
    });
    expect(second).toMatchObject({ status: "claimed", recovered: false });
    expect((await store.get("deleted"))?.state).toBe("in-flight");
  });

  // It answered `in-flight` with the released record, though the contract makes a released record claimable at once
  // by its own fingerprint (a retry would have got a needless 409).
  it("takes over the record a release left, instead of answering in-flight", async () => {
    const { first, second } = await claimAcross("released", async (session, token) => {
      // The same change `release` makes.
      const released = await session.query(
        `UPDATE "${table}" SET state = 'released', lease_until = NULL WHERE id = 'released' AND token = $1`,
        [token],
      );
      expect(released.rowCount).toBe(1);
    });
    expect(second).toMatchObject({ status: "claimed", recovered: false });
    if (second.status === "claimed") expect(second.token).toBeGreaterThan(first.token);
    expect((await store.get("released"))?.state).toBe("in-flight");
  });
});
