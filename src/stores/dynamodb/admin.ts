import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { InvalidCursorError } from "../../core/errors.js";
import type {
  AggregateOptions,
  IdempotencyRecord,
  ListOptions,
  ListPage,
  RecordState,
  StoreAggregate,
} from "../../core/store.js";
import { conditional, type Item, n, named, s, toRecord } from "./item.js";

// The DynamoDB store's operator paths, never on a request's hot path: table setup, and full-table scans.

export interface Target {
  sdk: typeof import("@aws-sdk/client-dynamodb");
  client: DynamoDBClient;
  /** The client's `send`, bound to the operation's deadline. */
  send: DynamoDBClient["send"];
  signal: AbortSignal;
  table: string;
}

/** Creates the table (on-demand billing, `pk` string hash key) unless it exists, and waits until it is active. */
export async function createTable({ sdk, client, send, signal, table }: Target): Promise<void> {
  try {
    await send(
      new sdk.CreateTableCommand({
        TableName: table,
        BillingMode: "PAY_PER_REQUEST",
        AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
        KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
      }),
    );
  } catch (error) {
    if ((error as Error).name !== "ResourceInUseException") throw error;
  }
  const waiter = { client, abortSignal: signal, maxWaitTime: 120, minDelay: 1, maxDelay: 5 };
  await sdk.waitUntilTableExists(waiter, { TableName: table });
}

/** Turns on native expiry of the `ttl` attribute, or says why it could not. */
export async function enableTtl({ sdk, send, table }: Target): Promise<{ enabled: boolean; reason?: string }> {
  const TimeToLiveSpecification = { AttributeName: "ttl", Enabled: true };
  try {
    await send(new sdk.UpdateTimeToLiveCommand({ TableName: table, TimeToLiveSpecification }));
    return { enabled: true };
  } catch (error) {
    const reason = (error as Error).message;
    return /already enabled/i.test(reason) ? { enabled: true } : { enabled: false, reason };
  }
}

/** One page of live records matching `options`, in scan order, sorted newest first within the page. */
export async function listRecords({ sdk, send, table }: Target, options: ListOptions): Promise<ListPage> {
  const limit = options.limit ?? 100;
  // Items without a state are the pages of stream logs (stream.ts), not records.
  const filters = ["#expires_at > :now", "attribute_exists(#state)"];
  const values: Item = { ":now": n(Date.now()) };
  if (options.state) {
    filters.push("#state = :state");
    values[":state"] = s(options.state);
  }
  if (options.since !== undefined) {
    filters.push("#created_at >= :since");
    values[":since"] = n(options.since);
  }
  const records: IdempotencyRecord[] = [];
  let start = options.cursor ? decodeCursor(options.cursor) : undefined;
  do {
    const page = await send(
      new sdk.ScanCommand({
        ...named({ TableName: table, FilterExpression: filters.join(" AND ") }),
        ExpressionAttributeValues: values,
        ConsistentRead: true,
        // Limit counts items read before the filter, so a page never gathers more than `limit` matches.
        Limit: limit - records.length,
        ExclusiveStartKey: start,
      }),
    );
    records.push(...(page.Items ?? []).map(toRecord));
    start = page.LastEvaluatedKey;
  } while (start && records.length < limit);
  records.sort((a, b) => b.createdAt - a.createdAt);
  return start ? { records, cursor: Buffer.from(JSON.stringify(start)).toString("base64url") } : { records };
}

/**
 * Deletes up to `limit` expired records; each delete re-checks expiry, so an id reclaimed since the scan stays. The
 * expired pages of stream logs the scan finds go too, uncounted (they are not records).
 */
export async function purgeExpiredItems({ sdk, send, table }: Target, limit: number): Promise<number> {
  let deleted = 0;
  let start: Item | undefined;
  do {
    const expired = { ":now": n(Date.now()) };
    const page = await send(
      new sdk.ScanCommand({
        ...named({ TableName: table, FilterExpression: "#expires_at <= :now", ProjectionExpression: "#pk, #state" }),
        ExpressionAttributeValues: expired,
        ExclusiveStartKey: start,
      }),
    );
    const items = page.Items ?? [];
    const records = items.filter((item) => item.state).slice(0, limit - deleted);
    const remove = (item: Item) => {
      const input = named({ TableName: table, Key: { pk: item.pk! }, ConditionExpression: "#expires_at <= :now" });
      return conditional(send(new sdk.DeleteItemCommand({ ...input, ExpressionAttributeValues: expired })));
    };
    await Promise.all(items.filter((item) => !item.state).map(remove));
    deleted += (await Promise.all(records.map(remove))).filter((outcome) => "output" in outcome).length;
    start = page.LastEvaluatedKey;
  } while (start && deleted < limit);
  return deleted;
}

/**
 * Counts by reading the table: DynamoDB has no aggregate queries, so this is a scan that projects the three attributes
 * it needs (state, created_at, expires_at) instead of whole items, counted on this side by this process's clock (the
 * store's clock everywhere).
 */
export async function aggregateItems({ sdk, send, table }: Target, options: AggregateOptions): Promise<StoreAggregate> {
  const now = Date.now();
  const soon = now + (options.expiringWithin ?? 3_600_000);
  const result: StoreAggregate = { states: { "in-flight": 0, released: 0, completed: 0 }, expiringSoon: 0, expired: 0 };
  let start: Item | undefined;
  do {
    const page = await send(
      new sdk.ScanCommand({
        ...named({ TableName: table, ProjectionExpression: "#state, #created_at, #expires_at" }),
        ConsistentRead: true,
        ExclusiveStartKey: start,
      }),
    );
    for (const item of page.Items ?? []) {
      if (!item.state) continue; // a page of a stream log (stream.ts), not a record
      const expiresAt = Number(item.expires_at?.N);
      if (expiresAt <= now) {
        result.expired++;
        continue;
      }
      result.states[item.state?.S as RecordState]++;
      if (expiresAt <= soon) result.expiringSoon++;
      const createdAt = Number(item.created_at?.N);
      if (result.oldest === undefined || createdAt < result.oldest) result.oldest = createdAt;
      if (result.newest === undefined || createdAt > result.newest) result.newest = createdAt;
    }
    start = page.LastEvaluatedKey;
  } while (start);
  return result;
}

function decodeCursor(cursor: string): Item {
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, "base64url").toString());
  } catch {}
  if (typeof key !== "object" || key === null || typeof (key as Item).pk?.S !== "string") {
    throw new InvalidCursorError(cursor);
  }
  return key as Item;
}
