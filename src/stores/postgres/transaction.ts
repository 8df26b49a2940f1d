import type { Pool, PoolClient, QueryResult } from "pg";
import { StoreError } from "../../core/errors.js";
import type {
  StepRecord,
  StoredResponse,
  TransactionalClaimOptions,
  TransactionalClaimResult,
} from "../../core/store.js";
import { storeCall } from "../../core/store-call.js";
import type { PostgresOperations, Query } from "./sql.js";

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

/**
 * `step.local`: `BEGIN`, the caller's `work` on the transaction's client, then the fenced step update marking the step
 * `done` with the JSON `work` returned, and `COMMIT`, all on one pooled connection. The fence is checked last, so the
 * row lock is held only for the update and commit (a lease renewal never waits for the caller's work): when another
 * holder took over meanwhile, the update matches no row and everything rolls back. A crash before `COMMIT` ends the
 * session, which rolls the work and the checkpoint back together.
 */
export async function runLocalStep(
  pool: Pool,
  operations: PostgresOperations,
  timeout: number,
  id: string,
  token: number,
  step: Pick<StepRecord, "name" | "seq">,
  work: (client: PoolClient) => Promise<string | undefined>,
): Promise<boolean> {
  const call = <T>(body: () => Promise<T>) => storeCall("postgres", "saveStep", timeout, body);
  const client = await storeCall(
    "postgres",
    "saveStep",
    timeout,
    () => pool.connect(),
    (late) => late.release(),
  );
  const query: Query = (statement) => client.query(statement);
  try {
    await call(() => client.query("BEGIN"));
  } catch (error) {
    client.release(error as Error);
    throw error;
  }
  let value: string | undefined;
  try {
    value = await work(client);
  } catch (error) {
    // The caller's error: its statements may have failed, the connection has not.
    await rollback(client);
    throw error;
  }
  try {
    const done: StepRecord = { ...step, state: "done", ...(value === undefined ? {} : { value }) };
    if (!(await call(() => operations.saveStep(query, id, token, done)))) {
      await rollback(client);
      return false;
    }
    // PostgreSQL answers COMMIT of a transaction that an earlier error aborted with ROLLBACK, not an error.
    const result = await call(() => client.query("COMMIT"));
    if (result.command !== "COMMIT") {
      throw new StoreError("postgres", "saveStep", "failed: the transaction had failed and was rolled back");
    }
  } catch (error) {
    // A statement may still be running: drop the connection rather than pool it; the server then rolls back.
    client.release(error as Error);
    throw error;
  }
  client.release();
  return true;
}
