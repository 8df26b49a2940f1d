import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { InvalidCursorError } from "../../core/errors.js";
import type { IdempotencyRecord, ListOptions, ListPage } from "../../core/store.js";
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
  const filters = ["#expires_at > :now"];
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

/** Deletes up to `limit` expired items; each delete re-checks expiry, so an id reclaimed since the scan stays. */
export async function purgeExpiredItems({ sdk, send, table }: Target, limit: number): Promise<number> {
  let deleted = 0;
  let start: Item | undefined;
  do {
    const expired = { ":now": n(Date.now()) };
    const page = await send(
      new sdk.ScanCommand({
        ...named({ TableName: table, FilterExpression: "#expires_at <= :now", ProjectionExpression: "#pk" }),
        ExpressionAttributeValues: expired,
        ExclusiveStartKey: start,
      }),
    );
    const keys = (page.Items ?? []).slice(0, limit - deleted).map((item) => ({ pk: item.pk! }));
    const deletes = keys.map((Key) => {
      const input = named({ TableName: table, Key, ConditionExpression: "#expires_at <= :now" });
      return conditional(send(new sdk.DeleteItemCommand({ ...input, ExpressionAttributeValues: expired })));
    });
    deleted += (await Promise.all(deletes)).filter((outcome) => "output" in outcome).length;
    start = page.LastEvaluatedKey;
  } while (start && deleted < limit);
  return deleted;
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
