import { randomUUID } from "node:crypto";
import mysql from "mysql2/promise";
import { afterAll, describe, expect, it } from "vitest";
import { MySqlStore } from "../../src/stores/mysql.js";
import { serviceAvailable, services } from "../support/services.js";

// Found by the model-based store test (test/reliability/store-model) on the MySQL 8 path (upsert, then a read; run
// on MariaDB here): a delete landing between the claim's upsert and its read made the claim throw "the record was
// deleted while being claimed" (a 503 for the request), and a release landing there made it answer `in-flight` with
// the released record, same fingerprint, which the contract makes claimable at once. Both are now claimed.
describe.skipIf(!(await serviceAvailable("mysql")))("regression: MySQL 8 claim whose read sees a later change", () => {
  const pool = mysql.createPool({ uri: services.mysql.url, connectionLimit: 4 });
  const table = `oncely_regress_${randomUUID().slice(0, 8)}`;
  afterAll(async () => {
    await pool.query(`DROP TABLE IF EXISTS \`${table}\``);
    await pool.end();
  });
  const options = { lease: 60_000, ttl: 120_000, meta: { key: "k" } };

  /** A store whose next claim upsert is followed, before the claim's read, by `between`. */
  async function storeWith(between: { run?: () => Promise<unknown> }) {
    // The store's own pool, with every statement's connection watched for the claim's upsert.
    const interfere = async (statement: { sql: string }, result: unknown) => {
      const run = between.run;
      if (run && statement.sql.startsWith("INSERT")) {
        between.run = undefined;
        await run();
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

  it("claims an id whose record was deleted right after its upsert, instead of failing", async () => {
    const between: { run?: () => Promise<unknown> } = {};
    const store = await storeWith(between);
    const first = await store.claim("deleted", "fp", options);
    expect(first.status).toBe("claimed");
    between.run = () => pool.execute(`DELETE FROM \`${table}\` WHERE id = 'deleted'`);
    const second = await store.claim("deleted", "fp", options);
    expect(second).toMatchObject({ status: "claimed", recovered: false });
  });

  it("claims a record released right after its upsert found it in flight, instead of answering in-flight", async () => {
    const between: { run?: () => Promise<unknown> } = {};
    const store = await storeWith(between);
    const first = await store.claim("released", "fp", options);
    if (first.status !== "claimed") throw new Error("not claimed");
    between.run = () => store.release("released", first.token);
    const second = await store.claim("released", "fp", options);
    expect(second).toMatchObject({ status: "claimed", recovered: false });
    if (second.status === "claimed") expect(second.token).toBeGreaterThan(first.token);
  });
});
