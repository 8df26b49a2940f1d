import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { PostgresStore } from "../../src/stores/postgres.js";
import { serviceAvailable, services } from "../support/services.js";

// Found by the model-based store test (test/reliability/store-model, soak run): a claim racing the release of the same
// id answered `in-flight` with the released record, same fingerprint and all, though the contract makes a released
// record claimable at once by its own fingerprint (a retry would have got a needless 409). The claim's snapshot still
// showed the row in flight; its upsert waited for the release to commit, saw the row changed since the snapshot, and
// kept it untouched rather than take it over on a stale view of its predecessor.
describe.skipIf(!(await serviceAvailable("postgres")))("regression: postgres claim racing a release", () => {
  const pool = new pg.Pool({ connectionString: services.postgres.url, max: 4 });
  const table = `oncely_regress_${randomUUID().slice(0, 8)}`;
  afterAll(async () => {
    await pool.query(`DROP TABLE IF EXISTS "${table}"`);
    await pool.end();
  });

  it("takes over the record the release left, instead of answering in-flight", async () => {
    const store = new PostgresStore({ pool, table });
    await store.migrate();
    const options = { lease: 60_000, ttl: 120_000, meta: { key: "k" } };
    const first = await store.claim("id", "fp", options);
    if (first.status !== "claimed") throw new Error("not claimed");

    // The holder's release, held uncommitted (the same change `release` makes), so the claim below takes its
    // snapshot with the record still in flight and its upsert waits on the row lock.
    const releaser = await pool.connect();
    await releaser.query("BEGIN");
    const released = await releaser.query(
      `UPDATE "${table}" SET state = 'released', lease_until = NULL WHERE id = 'id' AND token = $1`,
      [first.token],
    );
    expect(released.rowCount).toBe(1);
    const claim = store.claim("id", "fp", options);
    await expect
      .poll(async () => {
        const { rows } = await pool.query(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%prior%'",
        );
        return rows[0].n;
      })
      .toBe(1);
    await releaser.query("COMMIT");
    releaser.release();

    const second = await claim;
    expect(second).toMatchObject({ status: "claimed", recovered: false });
    if (second.status === "claimed") expect(second.token).toBeGreaterThan(first.token);
    expect((await store.get("id"))?.state).toBe("in-flight");
    await store.close();
  });
});
