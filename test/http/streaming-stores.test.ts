import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll } from "vitest";
import { RedisStore } from "../../src/stores/redis/index.js";
import { SqliteStore } from "../../src/stores/sqlite/index.js";
import { serviceAvailable, services } from "../support/services.js";
import { describeStreaming } from "./streaming.js";
import { streamingExpress, streamingNode } from "./streaming-apps.js";

// The streaming cases on the other stores that record streams, each behind one adapter: SQLite (whose followers
// poll) and Redis (whose followers block on the run's stream).

const dir = mkdtempSync(join(tmpdir(), "oncely-streaming-"));
let files = 0;
describeStreaming(
  "node:http on SqliteStore",
  streamingNode,
  () => new SqliteStore({ path: join(dir, `${files++}.db`) }),
);

const base = `oncely-test:${randomUUID().slice(0, 8)}:`;
if (await serviceAvailable("redis")) {
  describeStreaming(
    "express on RedisStore",
    streamingExpress,
    () => new RedisStore({ url: services.redis.url, prefix: `${base}${randomUUID().slice(0, 8)}:` }),
  );
}

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  const client = new Redis(services.redis.url, { lazyConnect: true });
  await client.connect().catch(() => undefined);
  if (client.status === "ready") {
    const keys = await client.keys(`${base}*`);
    if (keys.length > 0) await client.unlink(...keys);
    await client.quit();
  } else client.disconnect();
});
