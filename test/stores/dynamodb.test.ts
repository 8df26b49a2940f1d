import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { RecordTooLargeError, StoreError } from "../../src/core/errors.js";
import { DynamoDbStore } from "../../src/stores/dynamodb/index.js";
import { testStore } from "../../src/testing/index.js";
import { startDynalite } from "../support/dynalite.js";
import { until } from "../support/until.js";

// dynalite, a local DynamoDB on LevelDB, in a process of its own: in this one, its expression parser (milliseconds of
// CPU per request) held up the event loop that times the suite's leases, and on a loaded machine leases lapsed
// between two calls of one case.
const dynalite = await startDynalite();
afterAll(() => dynalite.stop());

const credentials = { accessKeyId: "test", secretAccessKey: "test" };
const { endpoint } = dynalite;
const client = new DynamoDBClient({ endpoint, region: "us-east-1", credentials });
// dynalite serves one request at a time: 100 parallel claims (and their fallback reads) take about a second here,
// several on a loaded machine; the timeout is not what the races test.
const create = async (options = {}) => {
  const store = new DynamoDbStore({ client, table: `oncely_${randomUUID().slice(0, 8)}`, timeout: "15s", ...options });
  await store.createTable();
  return store;
};
/** A client of its own that lists the commands it sends (`UpdateItem`, `GetItem`, ...), in order. */
function countingClient(): { counting: DynamoDBClient; sent: string[] } {
  const sent: string[] = [];
  const counting = new DynamoDBClient({ endpoint, region: "us-east-1", credentials });
  counting.middlewareStack.add(
    (next, context) => (args) => {
      sent.push(context.commandName!.replace("Command", ""));
      return next(args);
    },
    { step: "initialize" },
  );
  return { counting, sent };
}
const opts = { lease: 1000, ttl: 10_000, meta: { key: "k" } };
const response = (bytes: number) => ({ status: 200, headers: [], body: new Uint8Array(bytes).fill(7), kept: true });

// On a loaded machine (2 cores, a run at load average 11) one dynalite request took more than 400 ms, the suite's
// default lease: a claim's lease lapsed before its complete, and a case's first records expired (ttl 1.2 s) before its
// last list. The leases the suite sleeps through are longer here instead, for every case; the assertions are the same.
const TIMING = { lease: 2_000, ttl: 6_000 };
// dynalite answers about 130 claims a second on an idle machine: the race of 1,000 claims (and the reads of the
// losers' records that dynalite's missing ALL_OLD costs) takes seconds there, and took 106 s at load average 12.
vi.setConfig({ testTimeout: 300_000 });

testStore({
  name: "dynamodb (dynalite)",
  create,
  test: { describe, it, expect, beforeAll, afterAll },
  timing: TIMING,
  // A DynamoDB item holds at most 400 KB; the limit has its own test below.
  maxRecordBytes: 400 * 1024,
  steps: true,
  streams: true,
  replayCounts: true,
  aggregate: true,
  additionalTests: ({ store }) => {
    it("refuses a record over 400 KB with a RecordTooLargeError, before writing or from DynamoDB's answer", async () => {
      const claim = await store().claim("big", "fp", { ...opts, meta: { key: "k", path: `/${"a".repeat(8000)}` } });
      if (claim.status !== "claimed") throw new Error("not claimed");
      const complete = (kb: number) => store().complete("big", claim.token, response(kb * 1024), 10_000);
      await expect(complete(400)).rejects.toThrow(/would be about \d+ bytes/);
      // The estimate leaves 4 KB for what the claim wrote; this claim's long path took more, and DynamoDB says so.
      const refused = await complete(394).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(RecordTooLargeError);
      expect((refused as Error).message).toMatch(/Item size/);
      expect(await complete(380)).toBe(true);
      expect((await store().get("big"))?.response?.body.byteLength).toBe(380 * 1024);
    });

    it("names the package to install when @aws-sdk/client-dynamodb is missing", async () => {
      // A resolve hook in a child process makes the package unresolvable, as in an app that never installed it.
      const hook = `export async function resolve(specifier, context, next) {
        if (specifier === "@aws-sdk/client-dynamodb") throw Object.assign(new Error("not found"), { code: "ERR_MODULE_NOT_FOUND" });
        return next(specifier, context);
      }`;
      const child = `(await import("node:module")).register("data:text/javascript," + encodeURIComponent(${JSON.stringify(hook)}));
        const { DynamoDbStore } = await import(${JSON.stringify(fileURLToPath(new URL("../../src/stores/dynamodb/index.ts", import.meta.url)))});
        await new DynamoDbStore({ region: "us-east-1" }).get("id").catch((error) => console.log(error.message));`;
      const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", "-e", child]);
      expect(stdout.trim()).toBe(
        '[oncely] [dynamodb] DynamoDbStore needs the "@aws-sdk/client-dynamodb" package: npm install @aws-sdk/client-dynamodb',
      );
    });

    it("sends one request per operation, and a read more for a replay only where ALL_OLD is missing", async () => {
      const { counting, sent } = countingClient();
      const store = await create({ client: counting });
      sent.length = 0;
      const first = await store.claim("id", "fp", opts);
      if (first.status !== "claimed") throw new Error("not claimed");
      await store.release("id", first.token);
      const second = await store.claim("id", "fp", opts);
      if (second.status !== "claimed") throw new Error("not claimed");
      await store.complete("id", second.token, response(10), 10_000);
      expect(sent).toEqual(["UpdateItem", "UpdateItem", "UpdateItem", "UpdateItem"]);
      sent.length = 0;
      expect((await store.claim("id", "fp", opts)).status).toBe("completed");
      // DynamoDB returns the refusing item with the failed write; dynalite does not, hence the GetItem.
      expect(sent).toEqual(["UpdateItem", "GetItem"]);
      counting.destroy();
    });

    it("logs a stream in pages under the item limit: a 1 MiB entry reads back whole, two requests per append", async () => {
      const { counting, sent } = countingClient();
      const streams = await create({ client: counting });
      const claim = await streams.claim("streamed", "fp", { ...opts, lease: 60_000 });
      if (claim.status !== "claimed") throw new Error("not claimed");
      const large = Uint8Array.from({ length: 1024 * 1024 }, (_, i) => (i * 31) % 251);
      const small = Array.from({ length: 64 }, (_, i) => Uint8Array.of(i));
      sent.length = 0;
      expect(await streams.appendStream("streamed", claim.token, small, 10_000)).toBe(true);
      expect(sent).toEqual(["PutItem", "UpdateItem"]);
      sent.length = 0;
      expect(await streams.appendStream("streamed", claim.token, [Uint8Array.of(9), large], 10_000)).toBe(true);
      // 1 MiB and framing in three pages of at most 390 KiB, then the commit.
      expect(sent).toEqual(["PutItem", "PutItem", "PutItem", "UpdateItem"]);
      sent.length = 0;
      const read = await streams.readStream("streamed", claim.token, 63, 0);
      expect(sent).toEqual(["GetItem", "BatchGetItem"]);
      expect(read.state).toBe("held");
      expect(read.entries.slice(0, 2)).toEqual([Uint8Array.of(63), Uint8Array.of(9)]);
      expect(read.entries).toHaveLength(3);
      expect(Buffer.compare(read.entries[2]!, large)).toBe(0);
      counting.destroy();
    });

    it("keeps stream pages out of list and aggregate, and purges them with the expired records, uncounted", async () => {
      const table = `oncely_${randomUUID().slice(0, 8)}`;
      const streams = await create({ table });
      const claim = await streams.claim("streamed", "fp", { ...opts, ttl: 1000 });
      if (claim.status !== "claimed") throw new Error("not claimed");
      expect(await streams.appendStream("streamed", claim.token, [Uint8Array.of(1)], 1000)).toBe(true);
      expect(await streams.appendStream("streamed", claim.token, [Uint8Array.of(2)], 1000)).toBe(true);
      expect((await streams.list()).records.map((record) => record.id)).toEqual(["streamed"]);
      expect((await streams.aggregate()).states["in-flight"]).toBe(1);
      await until(async () => (await streams.get("streamed")) === undefined, "the record to expire");
      expect((await streams.aggregate()).expired).toBe(1);
      // The pages expire a little after the record (their ttl runs from their append): purged once they have.
      const { ScanCommand } = await import("@aws-sdk/client-dynamodb");
      let purged = 0;
      await until(async () => {
        purged += await streams.purgeExpired();
        return (await client.send(new ScanCommand({ TableName: table }))).Items?.length === 0;
      }, "the pages to be purged");
      expect(purged).toBe(1);
    });

    it("gives a successor of an expired record a new createdAt and a higher token", async () => {
      const short = { ...opts, lease: 50, ttl: 100 };
      const first = await store().claim("expired", "fp", short);
      const firstCreatedAt = (await store().get("expired"))?.createdAt ?? 0;
      await until(async () => (await store().get("expired")) === undefined, "the record to expire");
      const second = await store().claim("expired", "other", opts);
      if (first.status !== "claimed" || second.status !== "claimed") throw new Error("not claimed");
      expect(second.token).toBeGreaterThan(first.token);
      const record = await store().get("expired");
      expect(record?.fingerprint).toBe("other");
      expect(record?.createdAt).toBeGreaterThan(firstCreatedAt);
    });

    it("opens and closes its own client from `region` and `endpoint`, failing fast when unreachable", async () => {
      vi.stubEnv("AWS_ACCESS_KEY_ID", "test");
      vi.stubEnv("AWS_SECRET_ACCESS_KEY", "test");
      const own = new DynamoDbStore({ region: "us-east-1", endpoint, table: `oncely_${randomUUID().slice(0, 8)}` });
      await own.createTable();
      expect((await own.claim("id", "fp", opts)).status).toBe("claimed");
      await own.close();
      await expect(own.get("id")).rejects.toThrow(/closed/);
      const unreachable = new DynamoDbStore({ region: "us-east-1", endpoint: "http://127.0.0.1:1", timeout: 500 });
      const started = Date.now();
      await expect(unreachable.get("id")).rejects.toThrow(StoreError);
      expect(Date.now() - started).toBeLessThan(2000);
      await unreachable.close();
      vi.unstubAllEnvs();
    });

    it("names a missing table, and reports instead of throwing where TTL cannot be enabled", async () => {
      const missing = new DynamoDbStore({ client, table: "no_such_table" });
      await expect(missing.get("id")).rejects.toThrow(/not found \(table "no_such_table"/);
      expect(await (await create()).enableTtl()).toMatchObject({ enabled: false });
    });

    it("records a step in one UpdateItem, and a takeover returns the run's steps from its one UpdateItem", async () => {
      const { counting, sent } = countingClient();
      const store = await create({ client: counting });
      const runId = randomUUID();
      const work = { name: "checkout", input: '{"sku":"é"}' };
      const first = await store.claim("id", "fp", { ...opts, runId, work });
      if (first.status !== "claimed") throw new Error("not claimed");
      sent.length = 0;
      expect(await store.saveStep("id", first.token, { name: "a.b:c-1", seq: 0, state: "done", value: "{}" })).toBe(
        true,
      );
      expect(await store.saveStep("id", first.token, { name: "x", seq: 1, state: "started" })).toBe(true);
      await store.release("id", first.token);
      const second = await store.claim("id", "fp", { ...opts, runId: randomUUID() });
      expect(second).toEqual({
        ...{ status: "claimed", token: first.token + 1, recovered: false, runId },
        steps: [
          { name: "a.b:c-1", seq: 0, state: "done", value: "{}" },
          { name: "x", seq: 1, state: "started" },
        ],
      });
      expect(sent).toEqual(["UpdateItem", "UpdateItem", "UpdateItem", "UpdateItem"]);
      expect((await store.get("id"))?.work).toEqual(work);
      counting.destroy();
    });

    it("takes over an item an earlier oncely wrote (no run id, no steps map): it gets both", async () => {
      const table = `oncely_${randomUUID().slice(0, 8)}`;
      const legacy = await create({ table });
      const now = Date.now();
      const { PutItemCommand } = await import("@aws-sdk/client-dynamodb");
      // The item layout of oncely before steps.
      await client.send(
        new PutItemCommand({
          TableName: table,
          Item: {
            ...{ pk: { S: "old" }, state: { S: "released" }, fingerprint: { S: "fp" }, token: { N: "7" } },
            ...{ created_at: { N: String(now) }, lease_until: { N: "0" }, expires_at: { N: String(now + 10_000) } },
            ...{
              ttl: { N: String(Math.ceil(now / 1000) + 400) },
              meta: { M: { key: { S: "k" } } },
              version: { N: "1" },
            },
          },
        }),
      );
      expect((await legacy.get("old"))?.runId).toBeUndefined();
      const runId = randomUUID();
      expect(await legacy.claim("old", "fp", { ...opts, runId })).toEqual({
        ...{ status: "claimed", token: 8, recovered: false, runId },
        steps: [],
      });
      expect(await legacy.saveStep("old", 8, { name: "a", seq: 0, state: "done", value: "1" })).toBe(true);
      expect(await legacy.get("old")).toMatchObject({
        runId,
        steps: [{ name: "a", seq: 0, state: "done", value: "1" }],
      });
    });

    it("refuses a step that would take the item over 400 KB with a RecordTooLargeError, and keeps the item", async () => {
      const steps = store() as DynamoDbStore;
      const claim = await steps.claim("big-steps", "fp", opts);
      if (claim.status !== "claimed") throw new Error("not claimed");
      const step = (name: string, seq: number, kb: number) => ({
        ...{ name, seq, state: "done" as const },
        value: JSON.stringify("x".repeat(kb * 1024)),
      });
      await expect(steps.saveStep("big-steps", claim.token, step("huge", 0, 400))).rejects.toThrow(
        /would be about \d+ bytes/,
      );
      expect(await steps.saveStep("big-steps", claim.token, step("a", 0, 250))).toBe(true);
      const refused = await steps
        .saveStep("big-steps", claim.token, step("b", 1, 200))
        .catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(RecordTooLargeError);
      expect((await steps.get("big-steps"))?.steps?.map((kept) => kept.name)).toEqual(["a"]);
    });

    it("keeps at most 1,000 steps per run, and checks step names itself", async () => {
      const table = `oncely_${randomUUID().slice(0, 8)}`;
      const store = await create({ table });
      const claim = await store.claim("many", "fp", { ...opts, lease: 60_000, ttl: 60_000 });
      if (claim.status !== "claimed") throw new Error("not claimed");
      const step = (seq: number) => ({ name: `s${seq}`, seq, state: "started" as const });
      // 999 steps written straight into the item (a thousand saves one by one take dynalite tens of seconds here).
      const { UpdateItemCommand } = await import("@aws-sdk/client-dynamodb");
      const map = Object.fromEntries(
        Array.from({ length: 999 }, (_, seq) => [
          `s${seq}`,
          { M: { seq: { N: String(seq) }, state: { S: "started" } } },
        ]),
      );
      await client.send(
        new UpdateItemCommand({
          TableName: table,
          Key: { pk: { S: "many" } },
          UpdateExpression: "SET steps = :steps",
          ExpressionAttributeValues: { ":steps": { M: map } },
        }),
      );
      expect(await store.saveStep("many", claim.token, step(999))).toBe(true);
      await expect(store.saveStep("many", claim.token, step(1000))).rejects.toThrow(/1000 steps/);
      const settled = { ...step(3), state: "done" as const, value: "3" };
      expect(await store.saveStep("many", claim.token, settled)).toBe(true);
      expect(await store.saveStep("many", claim.token, { ...step(3), state: "started" })).toBe(true);
      const record = await store.get("many");
      expect(record?.steps).toHaveLength(1000);
      expect(record?.steps?.[3]).toEqual(settled);
      await expect(store.saveStep("many", claim.token, { ...step(0), name: "a b" })).rejects.toThrow(TypeError);
    });

    it("validates its options", () => {
      expect(() => new DynamoDbStore({})).toThrow(/`client`.*`region`/);
      expect(() => new DynamoDbStore({ client, table: "ab" })).toThrow(/`table`/);
      expect(() => new DynamoDbStore({ region: "eu-west-1", endpoint: "not a url" })).toThrow(/`endpoint`/);
    });
  },
});
