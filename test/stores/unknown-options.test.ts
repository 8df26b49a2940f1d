import { describe, expect, it } from "vitest";
import { DynamoDbStore } from "../../src/stores/dynamodb/index.js";
import { MySqlStore } from "../../src/stores/mysql/index.js";
import { PostgresStore } from "../../src/stores/postgres/index.js";
import { RedisStore } from "../../src/stores/redis/index.js";
import { UpstashStore } from "../../src/stores/upstash/index.js";

// The constructors only validate: a store connects on its first operation, so no server is needed here (the
// addresses below point at a port nothing listens on).
const stores = [
  {
    name: "RedisStore",
    create: (options: object) => new RedisStore(options as never),
    every: { url: "redis://127.0.0.1:1", prefix: "app:", timeout: "1s" },
    typo: { url: "redis://127.0.0.1:1", prefx: "app:" },
    near: "prefix",
  },
  {
    name: "PostgresStore",
    create: (options: object) => new PostgresStore(options as never),
    every: { connectionString: "postgres://127.0.0.1:1/test", table: "app_records", timeout: 500 },
    typo: { connectionString: "postgres://127.0.0.1:1/test", tabel: "app_records" },
    near: "table",
  },
  {
    name: "MySqlStore",
    create: (options: object) => new MySqlStore(options as never),
    every: { uri: "mysql://127.0.0.1:1/test", table: "app_records", dialect: "mariadb", timeout: 500 },
    typo: { uri: "mysql://127.0.0.1:1/test", dialetc: "mariadb" },
    near: "dialect",
  },
  {
    name: "DynamoDbStore",
    create: (options: object) => new DynamoDbStore(options as never),
    every: { region: "eu-west-1", endpoint: "http://127.0.0.1:1", table: "app_records", timeout: 500 },
    typo: { region: "eu-west-1", endpiont: "http://127.0.0.1:1" },
    near: "endpoint",
  },
  {
    name: "UpstashStore",
    create: (options: object) => new UpstashStore(options as never),
    every: { url: "http://127.0.0.1:1", token: "t", prefix: "app:", timeout: "1s" },
    typo: { url: "http://127.0.0.1:1", token: "t", prefx: "app:" },
    near: "prefix",
  },
];

describe.each(stores)("$name options", ({ name, create, every, typo, near }) => {
  it("accepts every option it documents, without connecting", async () => {
    const store = create(every) as { close(): Promise<void> };
    await store.close();
  });

  it("refuses a misspelled option, naming it and the option it is close to", () => {
    const [misspelled] = Object.keys(typo).filter((option) => !(option in every));
    expect(() => create(typo)).toThrow(
      new TypeError(`Unknown ${name} option \`${misspelled}\`; did you mean \`${near}\`?`),
    );
  });

  it("refuses an option it does not know at all", () => {
    expect(() => create({ ...every, keyspace: "shared" })).toThrow(
      new TypeError(`Unknown ${name} option \`keyspace\``),
    );
  });
});
