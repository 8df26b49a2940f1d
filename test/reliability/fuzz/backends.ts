import { randomUUID } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import type { Server } from "node:http";
import { Session } from "node:inspector/promises";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { Redis } from "ioredis";
import mysql from "mysql2/promise";
import pg from "pg";
import type { IdempotencyRecord, Store } from "../../../src/core/store.js";
import { MemoryStore } from "../../../src/stores/memory/index.js";
import { serviceAvailable, services } from "../../support/services.js";

/** A real backend for the reliability tests, with ways to look at what it holds beneath the Store interface. */
export interface Backend {
  name: string;
  store: Store;
  /** Every record, through `list` (all pages). */
  records(): Promise<IdempotencyRecord[]>;
  /** Everything the backend holds for this store, as raw bytes: keys, rows, values, file contents. */
  raw(): Promise<Buffer>;
  close(): Promise<void>;
}

export type BackendName = "memory" | "sqlite" | "redis" | "postgres" | "mysql" | "dynamodb";

async function allRecords(store: Store): Promise<IdempotencyRecord[]> {
  const out: IdempotencyRecord[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.list({ limit: 500, ...(cursor ? { cursor } : {}) });
    out.push(...page.records);
    cursor = page.cursor;
  } while (cursor);
  return out;
}

const inspector = new Session();
inspector.connect();
let inspected = 0;

/**
 * The memory store's private fields (its record map and eviction sets), read through the inspector and serialised
 * whole: byte arrays as latin1 text, so the raw bytes of bodies and headers are searchable.
 */
async function memoryInternals(store: MemoryStore): Promise<Buffer> {
  const name = `__oncelyInspected${++inspected}`;
  (globalThis as Record<string, unknown>)[name] = store;
  try {
    const handle = await inspector.post("Runtime.evaluate", { expression: `globalThis.${name}` });
    const props = await inspector.post("Runtime.getProperties", {
      objectId: handle.result.objectId!,
      ownProperties: true,
    });
    const privates = (props as { privateProperties?: { name: string }[] }).privateProperties ?? [];
    const fields = privates.map((p) => p.name).filter((n) => !n.startsWith("#sweep"));
    if (!fields.includes("#records")) throw new Error(`MemoryStore has no #records field (found ${fields})`);
    const serialise = `(function walk(v, seen = new Set()) {
      if (v === null || typeof v !== "object") return typeof v === "function" ? "" : String(v);
      if (seen.has(v)) return ""; seen.add(v);
      if (ArrayBuffer.isView(v)) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("latin1");
      if (v instanceof Map) return [...v].map(([k, x]) => walk(k, seen) + "=" + walk(x, seen)).join("\\n");
      if (v instanceof Set) return [...v].map((x) => walk(x, seen)).join("\\n");
      return Object.entries(v).map(([k, x]) => k + ":" + walk(x, seen)).join("\\n");
    })`;
    const expression = `${fields.map((f) => `${serialise}(globalThis.${name}.${f})`).join(' + "\\n" + ')}`;
    const result = (await inspector.post("Runtime.evaluate", { expression, replMode: true })) as unknown as {
      result: { value?: unknown };
      exceptionDetails?: { text: string };
    };
    if (result.exceptionDetails) throw new Error(`inspecting MemoryStore failed: ${result.exceptionDetails.text}`);
    return Buffer.from(String(result.result.value), "latin1");
  } finally {
    delete (globalThis as Record<string, unknown>)[name];
  }
}

function memoryBackend(): Backend {
  const store = new MemoryStore();
  return {
    name: "memory",
    store,
    records: () => allRecords(store),
    raw: () => memoryInternals(store),
    close: () => store.close(),
  };
}

async function sqliteBackend(): Promise<Backend> {
  const { SqliteStore } = await import("../../../src/stores/sqlite/index.js");
  const dir = mkdtempSync(join(tmpdir(), "oncely-reliability-"));
  const path = join(dir, "records.db");
  const store = new SqliteStore({ path });
  return {
    name: "sqlite",
    store,
    records: () => allRecords(store),
    async raw() {
      // The file's bytes (and its WAL's, where records may still sit), plus every row as the driver reads it.
      const files = readdirSync(dir).map((file) => readFileSync(join(dir, file)));
      const reader = new Database(path, { readonly: true });
      try {
        const rows = reader.prepare("SELECT * FROM oncely_records").all() as Record<string, unknown>[];
        return Buffer.concat([...files, ...rows.map(rowBytes)]);
      } finally {
        reader.close();
      }
    },
    async close() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function rowBytes(row: Record<string, unknown>): Buffer {
  return Buffer.concat(
    Object.entries(row).map(([name, value]) =>
      Buffer.concat([
        Buffer.from(`${name}=`),
        Buffer.isBuffer(value) || value instanceof Uint8Array
          ? Buffer.from(value)
          : Buffer.from(typeof value === "object" && value !== null ? JSON.stringify(value) : String(value)),
        Buffer.from("\n"),
      ]),
    ),
  );
}

async function redisBackend(): Promise<Backend> {
  const { RedisStore } = await import("../../../src/stores/redis/index.js");
  const prefix = `oncely-reliability:${randomUUID().slice(0, 8)}:`;
  const client = new Redis(services.redis.url);
  const store = new RedisStore({ client, prefix });
  const keys = async () => {
    const found: string[] = [];
    const stream = client.scanStream({ match: `${prefix}*`, count: 1000 });
    for await (const batch of stream as AsyncIterable<string[]>) found.push(...batch);
    return found;
  };
  return {
    name: "redis",
    store,
    records: () => allRecords(store),
    async raw() {
      const parts: Buffer[] = [];
      for (const key of await keys()) {
        parts.push(Buffer.from(`${key}\n`));
        const type = await client.type(key);
        if (type === "hash") {
          const fields = await client.hgetallBuffer(key);
          for (const [field, value] of Object.entries(fields)) parts.push(Buffer.from(`${field}=`), value);
        } else if (type === "string") {
          parts.push((await client.getBuffer(key)) ?? Buffer.alloc(0));
        } else {
          parts.push(Buffer.from(`(${type})`));
        }
      }
      return Buffer.concat(parts);
    },
    async close() {
      const found = await keys();
      if (found.length > 0) await client.unlink(...found);
      await store.close();
      client.disconnect();
    },
  };
}

async function postgresBackend(): Promise<Backend> {
  const { PostgresStore } = await import("../../../src/stores/postgres/index.js");
  const table = `oncely_rel_${randomUUID().slice(0, 8)}`;
  const connectionString = services.postgres.url;
  const store = new PostgresStore({ connectionString, table });
  await store.migrate();
  const client = new pg.Client({ connectionString });
  await client.connect();
  return {
    name: "postgres",
    store,
    records: () => allRecords(store),
    async raw() {
      const { rows } = await client.query(`SELECT * FROM "${table}"`);
      // row_to_json as well: every column as PostgreSQL renders it, bytea in hex.
      const json = await client.query(`SELECT row_to_json(t)::text AS j FROM "${table}" t`);
      return Buffer.concat([...rows.map(rowBytes), ...json.rows.map((r) => Buffer.from(String(r.j)))]);
    },
    async close() {
      await store.close();
      await client.query(`DROP TABLE IF EXISTS "${table}"`);
      await client.end();
    },
  };
}

async function mysqlBackend(): Promise<Backend> {
  const { MySqlStore } = await import("../../../src/stores/mysql/index.js");
  const table = `oncely_rel_${randomUUID().slice(0, 8)}`;
  const uri = services.mysql.url;
  const store = new MySqlStore({ uri, table });
  await store.migrate();
  const connection = await mysql.createConnection({ uri });
  return {
    name: "mysql",
    store,
    records: () => allRecords(store),
    async raw() {
      const [rows] = await connection.query(`SELECT * FROM \`${table}\``);
      return Buffer.concat((rows as Record<string, unknown>[]).map(rowBytes));
    },
    async close() {
      await store.close();
      await connection.query(`DROP TABLE IF EXISTS \`${table}\``);
      await connection.end();
    },
  };
}

async function dynamodbBackend(): Promise<Backend> {
  const { DynamoDbStore } = await import("../../../src/stores/dynamodb/index.js");
  const { DynamoDBClient, ScanCommand } = await import("@aws-sdk/client-dynamodb");
  const dynalite = createRequire(import.meta.url)("dynalite") as (options: object) => Server;
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
  });
  const table = `oncely_rel_${randomUUID().slice(0, 8)}`;
  const store = new DynamoDbStore({ client, table, timeout: "5s" });
  await store.createTable();
  return {
    name: "dynamodb",
    store,
    records: () => allRecords(store),
    async raw() {
      // Items exactly as DynamoDB returns them: attribute names, types and values; binary attributes as bytes.
      const parts: Buffer[] = [];
      let start: Record<string, unknown> | undefined;
      do {
        const page = await client.send(
          new ScanCommand({ TableName: table, ...(start ? { ExclusiveStartKey: start as never } : {}) }),
        );
        for (const item of page.Items ?? []) {
          for (const [name, value] of Object.entries(item)) {
            parts.push(Buffer.from(`${name}=`));
            if (value.B) parts.push(Buffer.from(value.B));
            else parts.push(Buffer.from(JSON.stringify(value)));
            parts.push(Buffer.from("\n"));
          }
        }
        start = page.LastEvaluatedKey;
      } while (start);
      return Buffer.concat(parts);
    },
    async close() {
      await store.close();
      client.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Opens a backend, or resolves undefined (after `serviceAvailable` printed why) when its server is not running. */
export async function openBackend(name: BackendName): Promise<Backend | undefined> {
  switch (name) {
    case "memory":
      return memoryBackend();
    case "sqlite":
      return sqliteBackend();
    case "redis":
      return (await serviceAvailable("redis")) ? redisBackend() : undefined;
    case "postgres":
      return (await serviceAvailable("postgres")) ? postgresBackend() : undefined;
    case "mysql":
      return (await serviceAvailable("mysql")) ? mysqlBackend() : undefined;
    case "dynamodb":
      return dynamodbBackend();
  }
}

/**
 * Which form of `needle` appears in `haystack`: as UTF-8 text, hex (either case), or base64/base64url at any of the
 * three byte alignments it could have inside a longer encoded value. Undefined when none does.
 */
export function containsSecret(haystack: Buffer, needle: string): string | undefined {
  const bytes = Buffer.from(needle);
  const forms: [string, Buffer][] = [
    ["utf8", bytes],
    ["hex", Buffer.from(bytes.toString("hex"))],
    ["HEX", Buffer.from(bytes.toString("hex").toUpperCase())],
  ];
  for (const pad of [0, 1, 2]) {
    for (const encoding of ["base64", "base64url"] as const) {
      // Drop the characters the padding or the unknown neighbours touch: what is left is fixed by the needle alone.
      const text = Buffer.concat([Buffer.alloc(pad), bytes])
        .toString(encoding)
        .replace(/=+$/, "");
      forms.push([`${encoding}+${pad}`, Buffer.from(text.slice(pad === 0 ? 0 : 4, -4))]);
    }
  }
  for (const [form, pattern] of forms) if (haystack.includes(pattern)) return form;
  return undefined;
}
