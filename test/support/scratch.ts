import { Redis } from "ioredis";
import mysql from "mysql2/promise";
import pg from "pg";
import { MySqlStore } from "../../src/stores/mysql/index.js";
import { PostgresStore } from "../../src/stores/postgres/index.js";
import { services } from "./services.js";

// Tests that share a server give each run a table or key prefix of its own: these make one with the store's own
// schema and remove it again, over a direct connection of their own (never through a proxy a test put in between).

/** Creates the store's table through its own `migrate()`, then closes the store. */
async function migrateOnce(store: { migrate(): Promise<void>; close(): Promise<void> }): Promise<void> {
  try {
    await store.migrate();
  } finally {
    await store.close();
  }
}

export function createPostgresTable(table: string): Promise<void> {
  return migrateOnce(new PostgresStore({ connectionString: services.postgres.url, table }));
}

export async function dropPostgresTable(table: string): Promise<void> {
  const client = new pg.Client({ connectionString: services.postgres.url });
  await client.connect();
  try {
    await client.query(`DROP TABLE IF EXISTS "${table}"`);
  } finally {
    await client.end();
  }
}

export function createMySqlTable(table: string): Promise<void> {
  return migrateOnce(new MySqlStore({ uri: services.mysql.url, table }));
}

export async function dropMySqlTable(table: string): Promise<void> {
  const connection = await mysql.createConnection({ uri: services.mysql.url });
  try {
    await connection.query(`DROP TABLE IF EXISTS \`${table}\``);
  } finally {
    await connection.end();
  }
}

export async function deleteRedisPrefix(prefix: string): Promise<void> {
  const client = new Redis(services.redis.url);
  try {
    const stream = client.scanStream({ match: `${prefix}*`, count: 1000 });
    for await (const keys of stream as AsyncIterable<string[]>) if (keys.length > 0) await client.unlink(...keys);
  } finally {
    client.disconnect();
  }
}
