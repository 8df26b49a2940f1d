import type { Pool, PoolClient, QueryResult } from "pg";
import type { StoredResponse, TransactionalClaimOptions, TransactionalClaimResult } from "../core/store.js";
import type { PostgresOperations, Query } from "./postgres-sql.js";

/** PostgreSQL's code for a lock wait that ran past `lock_timeout`. */
const LOCK_NOT_AVAILABLE = "55P03";

/**
 * The transactional claim: `BEGIN`, a transaction-scoped advisory lock on the id, then the usual claim statement,
 * all on one pooled connection that the handler then writes through. The lock is what a concurrent duplicate meets:
 * it cannot see an uncommitted claim, so without the lock it would block inside the claim's upsert for as long as
 * the handler runs. With it, a duplicate answers at once (`wait: 0`) or waits on the lock, server side, for the
 * holder to commit and then finds the completed record. A crash ends the session, which rolls everything back and
 * frees the lock: nothing is left behind to lapse.
 */
export async function claimInTransaction(
  pool: Pool,
  operations: PostgresOperations,
  table: string,
  id: string,
  fingerprint: string,
  options: TransactionalClaimOptions,
): Promise<TransactionalClaimResult> {
  const client = await pool.connect();
  const query: Query = (statement) => client.query(statement);
  try {
    if (!(await lock(client, `oncely:${table}:${id}`, options.wait))) {
      await client.query("ROLLBACK");
      const record = await operations.get(query, id);
      client.release();
      return record ? { status: "in-flight", record } : { status: "in-flight" };
    }
    const result = await operations.claim(query, id, fingerprint, options);
    if (result.status !== "claimed") {
      await client.query("ROLLBACK");
      client.release();
      return result;
    }
    return {
      ...result,
      transaction: {
        client,
        commit: (response, ttl) => commit(client, query, operations, id, result.token, response, ttl),
        rollback: () => rollback(client),
      },
    };
  } catch (error) {
    // The connection's state is unknown (a statement may still be running): drop it rather than pool it.
    client.release(error as Error);
    throw error;
  }
}

/** Takes the id's advisory lock in a new transaction: at once or not at all, or waiting up to `wait` ms. */
async function lock(client: PoolClient, name: string, wait: number): Promise<boolean> {
  const key = `hashtextextended(${client.escapeLiteral(name)}, 0)`;
  if (wait <= 0) {
    const results = (await client.query(
      `BEGIN; SELECT pg_try_advisory_xact_lock(${key}) AS got`,
    )) as unknown as QueryResult<{ got: boolean }>[];
    return results.at(-1)?.rows[0]?.got === true;
  }
  try {
    await client.query(`BEGIN; SET LOCAL lock_timeout = ${Math.ceil(wait)}; SELECT pg_advisory_xact_lock(${key})`);
    return true;
  } catch (error) {
    if ((error as { code?: string }).code === LOCK_NOT_AVAILABLE) return false;
    throw error;
  }
}

async function commit(
  client: PoolClient,
  query: Query,
  operations: PostgresOperations,
  id: string,
  token: number,
  response: StoredResponse,
  ttl: number,
): Promise<void> {
  try {
    if (!(await operations.complete(query, id, token, response, ttl))) {
      throw new Error("the claim was no longer held inside its own transaction");
    }
    // PostgreSQL answers COMMIT of a transaction that an earlier error aborted with ROLLBACK, not an error.
    const result = await client.query("COMMIT");
    if (result.command !== "COMMIT") throw new Error("the transaction had failed and was rolled back");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    client.release(error as Error);
    throw error;
  }
  client.release();
}

async function rollback(client: PoolClient): Promise<void> {
  try {
    await client.query("ROLLBACK");
    client.release();
  } catch (error) {
    client.release(error as Error);
  }
}
