import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { PostgresStore } from "../../src/stores/postgres.js";
import { serviceAvailable, services } from "../support/services.js";

// Found by the model-based store test (test/reliability/store-model): a claim racing a delete of a live claim on the
// same id answered `claimed` with `recovered: true`. The claim's snapshot still held the deleted row (in flight, not
// expired), but the upsert, after waiting for the delete to commit, inserted a fresh record: nothing was recovered,
// yet the engine would have reported a takeover (the `recovered` event, `isTakeover` in the handler).
describe.skipIf(!(await serviceAvailable("postgres")))("regression: postgres claim racing a delete", () => {
  const pool = new pg.Pool({ connectionString: services.postgres.url, max: 4 });
  const table = `oncely_regress_${randomUUID().slice(0, 8)}`;
  afterAll(async () => {
    await pool.query(`DROP TABLE IF EXISTS "${table}"`);
    await pool.end();
  });

  it("inserts a fresh record, not a recovered one, when the row it saw was deleted meanwhile", async () => {
    const store = new PostgresStore({ pool, table });
    await store.migrate();
    const options = { lease: 60_000, ttl: 120_000, meta: { key: "k" } };
    const first = await store.claim("id", "fp", options);
    expect(first.status).toBe("claimed");

    // Another session deletes the live claim and holds its transaction open, so the claim below takes its snapshot
    // with the row still there and its upsert waits on the row lock.
    const deleter = await pool.connect();
    await deleter.query("BEGIN");
    await deleter.query(`DELETE FROM "${table}" WHERE id = 'id'`);
    const claim = store.claim("id", "fp", options);
    await expect
      .poll(async () => {
        const { rows } = await pool.query(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%prior%'",
        );
        return rows[0].n;
      })
      .toBe(1);
    await deleter.query("COMMIT");
    deleter.release();

    const second = await claim;
    expect(second).toMatchObject({ status: "claimed", recovered: false });
    const record = await store.get("id");
    expect(record?.state).toBe("in-flight");
    await store.close();
  });
});
