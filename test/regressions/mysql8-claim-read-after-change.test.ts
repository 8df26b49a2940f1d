import { randomUUID } from "node:crypto";
import mysql from "mysql2/promise";
import { afterAll, describe, expect, it } from "vitest";
import { MySqlStore } from "../../src/stores/mysql/index.js";
import { serviceAvailable, services } from "../support/services.js";

// Found by the model-based store test (test/reliability/store-model) on the MySQL 8 path (upsert, then a read; run
// on MariaDB here), twice. First: a delete landing between the claim's upsert and its read made the claim throw (a 503
// for the request), and a release landing there made it answer `in-flight` for a record the contract makes
// claimable. Then, with the claim upserting again on finding its row gone: a delete landing there removed the record
// the claim had just made, answered `true`, and the claim made the record again. Now the upsert reports the token it
// granted: a new record is never read back, and a claim that finds a change when it reads either runs its upsert
// again (when that changed nothing) or stands (when it took the record over, whatever happened to it since).
describe.skipIf(!(await serviceAvailable("mysql")))("regression: MySQL 8 claim whose read sees a later change", () => {
  const pool = mysql.createPool({ uri: services.mysql.url, connectionLimit: 4 });
  const table = `oncely_regress_${randomUUID().slice(0, 8)}`;
  afterAll(async () => {
    await pool.query(`DROP TABLE IF EXISTS \`${table}\``);
    await pool.end();
  });
  const options = { lease: 60_000, ttl: 120_000, meta: { key: "k" } };

  /**
   * A store whose next claim upsert is followed by `between.run`, started from another connection and given 150 ms
   * to land before the claim reads; `between.landed` is its outcome.
   */
  async function storeWith(between: Between) {
    // The store's own pool, with every statement's connection watched for the claim's upsert.
    const interfere = async (statement: { sql: string }, result: unknown) => {
      const run = between.run;
      if (run && statement.sql.startsWith("INSERT")) {
        between.run = undefined;
        between.landed = run();
        await new Promise((resolve) => setTimeout(resolve, 150));
      }
      return result;
    };
    const watched = (connection: mysql.PoolConnection) =>
      new Proxy(connection, {
        get(target, name) {
          if (name === "execute") {
            return (statement: { sql: string }, values: unknown) =>
              target.execute(statement as never, values as never).then((result) => interfere(statement, result));
          }
          const value = Reflect.get(target, name, target);
          return typeof value === "function" ? value.bind(target) : value;
        },
      });
    const own = new Proxy(pool, {
      get(target, name) {
        if (name === "getConnection") return () => target.getConnection().then(watched);
        if (name === "execute") {
          return (statement: { sql: string }, values: unknown) =>
            target.execute(statement as never, values as never).then((result) => interfere(statement, result));
        }
        const value = Reflect.get(target, name, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const store = new MySqlStore({ pool: own, table, dialect: "mysql" });
    await store.migrate();
    return store;
  }

  it("a delete landing right after a new claim's upsert: the claim stands without a read, and the record is gone", async () => {
    const between: Between = {};
    const store = await storeWith(between);
    between.run = () => new MySqlStore({ pool, table, dialect: "mysql" }).delete("deleted");
    expect(await store.claim("deleted", "fp", options)).toMatchObject({ status: "claimed", recovered: false });
    expect(await between.landed).toBe(true);
    expect(await store.get("deleted")).toBeUndefined();
  });

  it("a release landing between a claim's upsert and its read: the claim takes the released record over", async () => {
    const between: Between = {};
    const store = await storeWith(between);
    const first = await store.claim("released", "fp", options);
    if (first.status !== "claimed") throw new Error("not claimed");
    between.run = () => store.release("released", first.token);
    const second = await store.claim("released", "fp", options);
    expect(await between.landed).toBe(true);
    expect(second).toMatchObject({ status: "claimed", recovered: false });
    if (second.status === "claimed") expect(second.token).toBeGreaterThan(first.token);
    expect((await store.claim("released", "fp", options)).status).toBe("in-flight");
  });

  it("a delete landing between a takeover's upsert and its read: the claim stands, and is fenced out", async () => {
    const between: Between = {};
    const store = await storeWith(between);
    const first = await store.claim("taken", "fp", options);
    if (first.status !== "claimed") throw new Error("not claimed");
    expect(await store.release("taken", first.token)).toBe(true);
    between.run = () => new MySqlStore({ pool, table, dialect: "mysql" }).delete("taken");
    const second = await store.claim("taken", "fp", options);
    expect(await between.landed).toBe(true);
    expect(second).toMatchObject({ status: "claimed" });
    if (second.status !== "claimed") return;
    expect(second.token).toBe(first.token + 1);
    expect(await store.get("taken")).toBeUndefined();
    expect(
      await store.complete(
        "taken",
        second.token,
        { status: 200, headers: [], body: new Uint8Array(), kept: true },
        60_000,
      ),
    ).toBe(false);
  });
});

interface Between {
  run?: () => Promise<unknown>;
  landed?: Promise<unknown>;
}
