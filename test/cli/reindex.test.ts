import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { runCli } from "../../src/cli/program.js";
import { serviceAvailable, services } from "../support/services.js";

// `oncely reindex` puts records an earlier oncely wrote into RedisStore's index; stores without one have nothing to do.

async function oncely(args: string[]) {
  let stdout = "";
  let stderr = "";
  const write = (to: "out" | "err") => (text: string) => {
    if (to === "out") stdout += text;
    else stderr += text;
  };
  const code = await runCli(args, { stdout: { write: write("out") }, stderr: { write: write("err") }, env: {} });
  return { code, stdout, stderr };
}

const redisUp = await serviceAvailable("redis");

describe("oncely reindex", () => {
  it("says a store without an index has nothing to do", async () => {
    expect(await oncely(["reindex", "--store", "memory:"])).toEqual({
      code: 0,
      stdout: "",
      stderr: "the memory store keeps no index beside its records: nothing to do\n",
    });
  });

  it.runIf(redisUp)("indexes the records an earlier oncely wrote on Redis", async () => {
    const prefix = `oncely-reindex-test:${randomUUID().slice(0, 8)}:`;
    const client = new Redis(services.redis.url);
    try {
      const now = Number((await client.time())[0]) * 1000;
      for (const id of ["a", "b", "c"]) {
        await client.hset(`${prefix}{${id}}`, {
          ...{ state: "completed", fingerprint: "fp", token: 1, created_at: now, lease_until: 0 },
          ...{ expires_at: now + 60_000, meta: JSON.stringify({ key: id }), version: 1 },
        });
      }
      const store = `${services.redis.url}?prefix=${encodeURIComponent(prefix)}`;
      expect(JSON.parse((await oncely(["stats", "--json", "--store", store])).stdout).records).toBe(0);
      expect(await oncely(["reindex", "--store", store])).toEqual({
        code: 0,
        stdout: "indexed 3 records\n",
        stderr: "",
      });
      expect(JSON.parse((await oncely(["stats", "--json", "--store", store])).stdout).records).toBe(3);
      expect(JSON.parse((await oncely(["reindex", "--json", "--store", store])).stdout)).toEqual({ indexed: 3 });
    } finally {
      const keys = await client.keys(`${prefix}*`);
      if (keys.length > 0) await client.unlink(...keys);
      await client.quit();
    }
  });
});
