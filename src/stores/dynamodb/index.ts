/**
 * A store on DynamoDB through the AWS SDK v3.
 *
 * @module oncely/stores/dynamodb
 */
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { type Duration, toMilliseconds } from "../../core/duration.js";
import { isOncelyError, RecordTooLargeError, StoreError, StoreTimeoutError } from "../../core/errors.js";
import {
  type AggregateOptions,
  type ClaimOptions,
  type ClaimResult,
  type IdempotencyRecord,
  type ListOptions,
  type ListPage,
  RECORD_FORMAT_VERSION,
  type StepRecord,
  type StoreAggregate,
  type StoredResponse,
  type StreamRead,
  type StreamStore,
} from "../../core/store.js";
import { rejectUnknownOptions } from "../../core/unknown-options.js";
import { loadDriver } from "../shared/optional-driver.js";
import { pollStream } from "../shared/poll-stream.js";
import { checkStep, MAX_STORED_STEPS, tooManySteps } from "../shared/step-record.js";
import { aggregateItems, createTable, enableTtl, listRecords, purgeExpiredItems, type Target } from "./admin.js";
import {
  conditional,
  type Expressions,
  freshItem,
  ITEM_LIMIT,
  type Item,
  itemSize,
  metaItem,
  n,
  named,
  responseItem,
  s,
  stepItem,
  stepsOf,
  toRecord,
  ttlOf,
  workItem,
} from "./item.js";
import {
  batchEntries,
  batchesFrom,
  batchesOf,
  batchPages,
  LOG,
  logElement,
  MAX_BATCHES,
  pageKey,
  runState,
} from "./stream.js";

/** What an operation works with: the client's `send` is bound to the operation's deadline. */
type Connection = Omit<Target, "table">;

/** Options of `DynamoDbStore`: a client (or a region and endpoint for one), the table, and timeouts. */
export interface DynamoDbStoreOptions {
  /** A `DynamoDBClient` you configured (credentials, region, retries). The store never destroys it. */
  client?: DynamoDBClient;
  /** The region of a client the store creates (and destroys on `close()`), when no `client` is given. */
  region?: string;
  /** The endpoint of a client the store creates, e.g. DynamoDB Local or dynalite. @default the region's endpoint */
  endpoint?: string;
  /**
   * The table: a string hash key named `pk`, nothing else. `createTable()` makes one.
   * @default "oncely_records"
   */
  table?: string;
  /**
   * Bounds each operation, retries and fallback reads included; on expiry it fails with a `StoreTimeoutError`.
   * @default 1000
   */
  timeout?: Duration;
}

/** Every option name, checked against `DynamoDbStoreOptions` by the compiler, for refusing a misspelled one. */
const OPTION_NAMES: Record<keyof DynamoDbStoreOptions, true> = {
  client: true,
  region: true,
  endpoint: true,
  table: true,
  timeout: true,
};

const TABLE = /^[A-Za-z0-9_.-]{3,255}$/;
const HELD = "#token = :token AND #state = :inflight AND #expires_at > :now";
const CLAIM =
  "SET #state = :inflight, #fingerprint = :fingerprint, #token = if_not_exists(#token, :before) + :one, " +
  "#created_at = if_not_exists(#created_at, :now), #lease_until = :lease_until, #expires_at = :expires_at, " +
  "#ttl = :ttl, #meta = if_not_exists(#meta, :meta), #version = if_not_exists(#version, :version), " +
  "#run_id = if_not_exists(#run_id, :run_id), #steps = if_not_exists(#steps, :no_steps)";
/** Added to CLAIM when the claim carries work: a takeover keeps the work already stored. */
const CLAIM_WORK = ", #work = if_not_exists(#work, :work)";
/** Ends every claim: a run starts with no stream log of its own (see stream.ts). */
const CLAIM_END = ` REMOVE #${LOG}`;
/**
 * A step is written while the token holds a live claim, and only over nothing (while the run has room) or over a
 * started step: a done or failed step is never replaced.
 */
const STEP_WRITABLE = `${HELD} AND ((attribute_not_exists(#steps.#step) AND size(#steps) < :max) OR #steps.#step.#state = :started)`;
/** The claim's takeover condition: absent, or live, released or lapsed, and claimed by the same request. */
const CLAIMABLE =
  "attribute_not_exists(#pk) OR (#fingerprint = :fingerprint AND #expires_at > :now AND " +
  "(#state = :released OR (#state = :inflight AND #lease_until <= :now)))";
/** Replay-count UpdateItems in flight at once. */
const COUNT_CONCURRENCY = 16;
/** Bounds a batch of replay counts (up to 1,000 UpdateItems): off the request path, so longer than `timeout`. */
const COUNT_TIMEOUT = 10_000;
/** Room left in an item for what the claim wrote (id, fingerprint, meta, times) when sizing a response. */
const CLAIM_ROOM = 4 * 1024;

/**
 * Keeps records in a DynamoDB table (AWS SDK v3), one item per record: for AWS deployments, Lambda included.
 * Leases and expiry are judged by the callers' clocks (DynamoDB has no server clock): keep hosts NTP-synced; skew up
 * to the lease minus its renewal interval (20 s with the default 30 s lease) is tolerated.
 *
 * @example
 * const store = new DynamoDbStore({ client: new DynamoDBClient({}), table: "oncely_records" });
 * const idem = createIdempotency({ store });
 */
export class DynamoDbStore implements StreamStore {
  readonly name = "dynamodb";
  readonly #table: string;
  readonly #timeout: number;
  readonly #options: DynamoDbStoreOptions;
  #connected: Promise<Pick<Connection, "sdk" | "client">> | undefined;
  #closed = false;

  constructor(options: DynamoDbStoreOptions) {
    rejectUnknownOptions("DynamoDbStore", options ?? {}, Object.keys(OPTION_NAMES));
    const { client, region, endpoint, table = "oncely_records" } = options ?? {};
    if (client !== undefined && typeof (client as Partial<DynamoDBClient>).send !== "function") {
      throw new TypeError("Expected `client` to be a DynamoDBClient from @aws-sdk/client-dynamodb");
    }
    if (client === undefined && (typeof region !== "string" || region === "")) {
      throw new TypeError('Expected `client` (a DynamoDBClient) or `region` (such as "eu-west-1")');
    }
    if (endpoint !== undefined && (typeof endpoint !== "string" || !URL.canParse(endpoint))) {
      throw new TypeError(`Expected \`endpoint\` to be a URL, got ${JSON.stringify(endpoint)}`);
    }
    if (typeof table !== "string" || !TABLE.test(table)) {
      throw new TypeError(
        `Expected \`table\` to be 3-255 letters, digits, "_", "-" or ".", got ${JSON.stringify(table)}`,
      );
    }
    this.#options = options;
    this.#table = table;
    this.#timeout = toMilliseconds(options.timeout ?? 1000, "timeout");
  }

  /**
   * Creates the table (on-demand billing, `pk` string hash key) unless it exists, and waits until it is active.
   * For tests and quick starts; production tables usually come from infrastructure code.
   */
  async createTable(): Promise<void> {
    await this.#run("createTable", (c) => createTable({ ...c, table: this.#table }), 120_000);
  }

  /**
   * Turns on native expiry of the `ttl` attribute, which deletes expired items at no cost. Optional: reads ignore
   * expired items either way, and `purgeExpired` deletes them. Reports instead of throwing where TTL cannot be set
   * (dynalite, some DynamoDB Local versions, a missing permission).
   */
  enableTtl(): Promise<{
    /** True when DynamoDB TTL is on for the table's `expires_at` attribute. */
    enabled: boolean;
    /** Why it could not be turned on, when it could not. */
    reason?: string;
  }> {
    return this.#run("enableTtl", (c) => enableTtl({ ...c, table: this.#table }));
  }

  claim(id: string, fingerprint: string, options: ClaimOptions): Promise<ClaimResult> {
    return this.#run("claim", async (c) => {
      const runId = options.runId ?? crypto.randomUUID();
      const size = itemSize(freshItem(id, fingerprint, { ...options, runId, token: 0, now: 0 }));
      if (size > ITEM_LIMIT) throw tooLarge("claim", size);
      // A pass settles the claim unless the record changed under it; under any contention one more pass suffices.
      for (let pass = 0; pass < 4; pass++) {
        const result = await this.#claimOnce(c, id, fingerprint, { ...options, runId });
        if (result) return result;
      }
      throw new StoreError(this.name, "claim", "failed: the record kept changing while being claimed");
    });
  }

  /**
   * One conditional UpdateItem claims a new id or takes over a released record or lapsed lease. An UpdateItem,
   * not a PutItem (which replaces the whole item and cannot read the old token): `SET token = if_not_exists(token,
   * now - 1) + 1` gives a new record the clock as its token and a takeover the old token + 1, and `if_not_exists`
   * keeps a takeover's `created_at` and `meta`. `ReturnValues: ALL_OLD` tells a lapsed lease (recovered) from a
   * released record. A refused write returns the record that refused it (`ALL_OLD` on condition failure, or a
   * consistent read where the backend omits it). An expired record is replaced by a PutItem guarded by the token
   * seen: its successor starts afresh, with a higher token. `if_not_exists` also keeps a takeover's run id, steps
   * and work, and gives a record an earlier oncely wrote a run id and an empty `steps` map.
   */
  async #claimOnce(c: Connection, id: string, fingerprint: string, options: ClaimOptions & { runId: string }) {
    const now = Date.now();
    const { runId, work } = options;
    const claim = await conditional(
      c.send(
        new c.sdk.UpdateItemCommand({
          ...this.#item(id, {
            UpdateExpression: (work ? CLAIM + CLAIM_WORK : CLAIM) + CLAIM_END,
            ConditionExpression: CLAIMABLE,
          }),
          ExpressionAttributeValues: {
            ...{ ":inflight": s("in-flight"), ":released": s("released"), ":fingerprint": s(fingerprint) },
            ...{ ":before": n(now - 1), ":one": n(1), ":now": n(now), ":lease_until": n(now + options.lease) },
            ...{ ":expires_at": n(now + options.ttl), ":ttl": ttlOf(now + options.ttl) },
            ...{ ":meta": metaItem(options.meta), ":version": n(RECORD_FORMAT_VERSION) },
            ...{ ":run_id": s(runId), ":no_steps": { M: {} } },
            ...(work ? { ":work": workItem(work) } : {}),
          },
          ReturnValues: "ALL_OLD",
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
        }),
      ),
    );
    if ("output" in claim) {
      const attributes = claim.output.Attributes;
      const old = attributes?.pk ? toRecord(attributes) : undefined;
      if (!old) return { status: "claimed", token: now, recovered: false, runId, steps: [] as StepRecord[] } as const;
      const taken = { token: old.token + 1, recovered: old.state === "in-flight" };
      return { status: "claimed", ...taken, runId: old.runId ?? runId, steps: stepsOf(attributes!) } as const;
    }
    const item = claim.refusedBy ?? (await this.#read(c, id));
    if (!item) return undefined;
    const record = toRecord(item);
    if (record.expiresAt <= now) {
      const token = Math.max(now, record.token + 1);
      const replace = await conditional(
        c.send(
          new c.sdk.PutItemCommand({
            ...this.#item(id, {
              ConditionExpression: "attribute_not_exists(#pk) OR (#token = :seen AND #expires_at <= :now)",
            }),
            Item: freshItem(id, fingerprint, { ...options, token, now }),
            ExpressionAttributeValues: { ":seen": n(record.token), ":now": n(now) },
          }),
        ),
      );
      const claimed = { status: "claimed", token, recovered: false, runId, steps: [] as StepRecord[] } as const;
      return "output" in replace ? claimed : undefined;
    }
    if (record.state === "completed") return { status: "completed", record } as const;
    const claimable = record.fingerprint === fingerprint && (record.state === "released" || record.leaseUntil <= now);
    // Claimable now means the record changed between the refused write and the fallback read: try again.
    return claimable ? undefined : ({ status: "in-flight", record } as const);
  }

  renew(id: string, token: number, lease: number): Promise<boolean> {
    return this.#run("renew", (c) =>
      this.#updateHeld(c, id, token, "SET #lease_until = :lease_until", (now) => ({ ":lease_until": n(now + lease) })),
    );
  }

  complete(id: string, token: number, response: StoredResponse, ttl: number): Promise<boolean> {
    return this.#run("complete", (c) => {
      const values = responseItem(response);
      const size = itemSize(values) + Buffer.byteLength(id) + CLAIM_ROOM;
      if (size > ITEM_LIMIT) throw tooLarge("complete", size);
      const update =
        "SET #state = :completed, #lease_until = :zero, #completed_at = :now, #expires_at = :expires_at, " +
        "#ttl = :ttl, #status = :status, #headers = :headers, #body = :body, #kept = :kept";
      return this.#updateHeld(c, id, token, update, (now) => ({
        ...{ ":completed": s("completed"), ":zero": n(0), ":expires_at": n(now + ttl), ":ttl": ttlOf(now + ttl) },
        ...Object.fromEntries(Object.entries(values).map(([name, value]) => [`:${name}`, value])),
      }));
    });
  }

  release(id: string, token: number): Promise<boolean> {
    return this.#run("release", (c) =>
      this.#updateHeld(c, id, token, "SET #state = :released, #lease_until = :zero", () => ({
        ":released": s("released"),
        ":zero": n(0),
      })),
    );
  }

  /**
   * One conditional UpdateItem (`SET steps.<name> = :step`), fenced by the token and the caller's clock; a run keeps
   * at most 1,000 steps, and the item stays within DynamoDB's 400 KB (else `RecordTooLargeError`). A refused write
   * returns the item (or, where the backend omits it, takes a consistent read) to tell a settled step (true) from a
   * lost claim (false).
   */
  async saveStep(id: string, token: number, step: StepRecord): Promise<boolean> {
    checkStep(step);
    return this.#run("saveStep", async (c) => {
      const value = stepItem(step);
      const size = Buffer.byteLength(step.name) + itemSize({ v: value }) + Buffer.byteLength(id) + CLAIM_ROOM;
      if (size > ITEM_LIMIT) throw tooLarge("saveStep", size);
      for (let pass = 0; pass < 4; pass++) {
        const now = Date.now();
        const input = this.#item(id, {
          UpdateExpression: "SET #steps.#step = :step",
          ConditionExpression: STEP_WRITABLE,
        });
        const written = await conditional(
          c.send(
            new c.sdk.UpdateItemCommand({
              ...input,
              ExpressionAttributeNames: { ...input.ExpressionAttributeNames, "#step": step.name },
              ExpressionAttributeValues: {
                ...{ ":token": n(token), ":inflight": s("in-flight"), ":now": n(now), ":step": value },
                ...{ ":max": n(MAX_STORED_STEPS), ":started": s("started") },
              },
              ReturnValuesOnConditionCheckFailure: "ALL_OLD",
            }),
          ),
        );
        if ("output" in written) return true;
        const item = written.refusedBy ?? (await this.#read(c, id));
        const record = item && toRecord(item);
        if (!record || record.token !== token || record.state !== "in-flight" || record.expiresAt <= now) return false;
        const kept = item.steps?.M?.[step.name]?.M?.state?.S;
        if (kept !== undefined && kept !== "started") return true; // The first result wins.
        if (kept === undefined && Object.keys(item.steps?.M ?? {}).length >= MAX_STORED_STEPS) {
          throw tooManySteps(this.name);
        }
        // Writable now: the item changed between the refused write and the fallback read; try again.
      }
      throw new StoreError(this.name, "saveStep", "failed: the record kept changing while the step was saved");
    });
  }

  /**
   * One UpdateItem per id (`ADD replays :count`), 16 at a time, each on the condition that the item exists, is
   * completed and is live: a missing id is never created, an in-flight record never touched, and the expiry stays.
   * Refused conditions are ignored. Bounded by `timeout` or 10 s, whichever is longer.
   */
  countReplays(counts: ReadonlyMap<string, number>): Promise<void> {
    if (counts.size === 0) return Promise.resolve();
    return this.#run(
      "countReplays",
      async (c) => {
        const now = Date.now();
        const pending = [...counts];
        const worker = async () => {
          for (let next = pending.pop(); next; next = pending.pop()) {
            const [id, count] = next;
            const input = this.#item(id, {
              UpdateExpression: "ADD #replays :count",
              ConditionExpression: "attribute_exists(#pk) AND #state = :completed AND #expires_at > :now",
            });
            const values = { ":count": n(count), ":completed": s("completed"), ":now": n(now) };
            await conditional(c.send(new c.sdk.UpdateItemCommand({ ...input, ExpressionAttributeValues: values })));
          }
        };
        await Promise.all(Array.from({ length: Math.min(COUNT_CONCURRENCY, counts.size) }, worker));
      },
      Math.max(this.#timeout, COUNT_TIMEOUT),
    );
  }

  /**
   * Writes the batch's pages (one PutItem each, in parallel; one for up to 390 KiB), then commits them with one
   * conditional UpdateItem on the record that lists the batch only while the token holds a live claim (see
   * stream.ts). A run commits at most 4,096 batches; past that the append fails with a `StoreError`.
   */
  appendStream(id: string, token: number, entries: Uint8Array[], ttl: number): Promise<boolean> {
    return this.#run("appendStream", async (c) => {
      const now = Date.now();
      const expiry = { expires_at: n(now + ttl), ttl: ttlOf(now + ttl) };
      const nonce = crypto.randomUUID().replaceAll("-", "").slice(0, 12);
      const pages = batchPages(entries);
      await Promise.all(
        pages.map((page, index) =>
          c.send(
            new c.sdk.PutItemCommand({
              ...named({ TableName: this.#table, ConditionExpression: "attribute_not_exists(#pk)" }),
              Item: { pk: s(pageKey(id, token, nonce, index)), page: { B: page }, ...expiry },
            }),
          ),
        ),
      );
      const batch = { L: [s(logElement({ entries: entries.length, pages: pages.length, nonce }))] };
      const input = this.#item(id, {
        UpdateExpression: `SET #${LOG} = list_append(if_not_exists(#${LOG}, :none), :batch)`,
        ConditionExpression: `${HELD} AND (attribute_not_exists(#${LOG}) OR size(#${LOG}) < :max)`,
      });
      const values = { ":token": n(token), ":inflight": s("in-flight"), ":now": n(now), ":none": { L: [] } };
      const committed = await conditional(
        c.send(
          new c.sdk.UpdateItemCommand({
            ...input,
            ExpressionAttributeValues: { ...values, ":batch": batch, ":max": n(MAX_BATCHES) },
            ReturnValuesOnConditionCheckFailure: "ALL_OLD",
          }),
        ),
      );
      if ("output" in committed) return true;
      const item = committed.refusedBy ?? (await this.#read(c, id));
      if (runState(item, token, now) === "held" && batchesOf(item, token).length >= MAX_BATCHES) {
        throw new StoreError(this.name, "appendStream", `failed: the run's stream log holds ${MAX_BATCHES} batches`);
      }
      return false;
    });
  }

  /**
   * One consistent GetItem for the run's state and its log (only those attributes), then one BatchGetItem per 100
   * pages from `from` on. With nothing new, polls (every 10 ms at first, growing by half up to 200 ms) until an
   * append, the run's end, or `wait` ms: DynamoDB cannot wake a reader on a write.
   */
  readStream(id: string, token: number, from: number, wait: number): Promise<StreamRead> {
    const read = () => this.#run("readStream", (c) => this.#readStream(c, id, token, from));
    return wait > 0 ? pollStream(read, wait) : read();
  }

  async #readStream(c: Connection, id: string, token: number, from: number): Promise<StreamRead> {
    const now = Date.now();
    const projection = `#token, #state, #lease_until, #expires_at, #${LOG}`;
    const input = this.#item(id, { ProjectionExpression: projection });
    const item = (await c.send(new c.sdk.GetItemCommand({ ...input, ConsistentRead: true }))).Item;
    const state = runState(item, token, now);
    const { batches, skip } = batchesFrom(batchesOf(item, token), from);
    const keys = batches.flatMap((batch) =>
      Array.from({ length: batch.pages }, (_, page) => pageKey(id, token, batch.nonce, page)),
    );
    const pages = new Map<string, Uint8Array>();
    for (let start = 0; start < keys.length; start += 100) {
      let request: Record<string, { Keys: Item[]; ConsistentRead: boolean }> | undefined = {
        [this.#table]: { Keys: keys.slice(start, start + 100).map((key) => ({ pk: s(key) })), ConsistentRead: true },
      };
      while (request && Object.keys(request).length > 0) {
        const found = await c.send(new c.sdk.BatchGetItemCommand({ RequestItems: request }));
        for (const page of found.Responses?.[this.#table] ?? []) pages.set(page.pk!.S!, page.page!.B!);
        request = found.UnprocessedKeys as typeof request;
      }
    }
    const entries: Uint8Array[] = [];
    for (const batch of batches) {
      const parts = Array.from({ length: batch.pages }, (_, page) => pages.get(pageKey(id, token, batch.nonce, page)));
      // Expired (the run outlived its ttl) or purged: what follows cannot be read either.
      if (parts.some((part) => part === undefined)) break;
      entries.push(...batchEntries(parts as Uint8Array[]));
    }
    return { entries: entries.slice(skip), state };
  }

  get(id: string): Promise<IdempotencyRecord | undefined> {
    return this.#run("get", async (c) => {
      const item = await this.#read(c, id);
      const record = item && toRecord(item);
      return record && record.expiresAt > Date.now() ? record : undefined;
    });
  }

  delete(id: string): Promise<boolean> {
    return this.#run("delete", async (c) => {
      const input = this.#item(id, { ConditionExpression: "attribute_exists(#pk)" });
      return "output" in (await conditional(c.send(new c.sdk.DeleteItemCommand(input))));
    });
  }

  /**
   * Scans the table: for operators and the CLI, not for hot paths (it reads every item). Pages follow DynamoDB's
   * scan order; records are newest first within a page only. Bounded by `timeout` or 30 s, whichever is longer.
   */
  list(options: ListOptions = {}): Promise<ListPage> {
    return this.#run("list", (c) => listRecords({ ...c, table: this.#table }, options), this.#scanTimeout);
  }

  /**
   * Deletes up to `limit` expired items found by a scan; each delete re-checks expiry, so an id reclaimed meanwhile
   * stays. Bounded by `timeout` or 30 s, whichever is longer: pass a `limit` to keep each call short.
   */
  purgeExpired(options: { limit?: number } = {}): Promise<number> {
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    return this.#run("purgeExpired", (c) => purgeExpiredItems({ ...c, table: this.#table }, limit), this.#scanTimeout);
  }

  /**
   * Scans the table, projecting only state, created_at and expires_at: DynamoDB has no aggregate queries, so this
   * reads every item (but not its body). Bounded by `timeout` or 30 s, whichever is longer.
   */
  aggregate(options: AggregateOptions = {}): Promise<StoreAggregate> {
    return this.#run("aggregate", (c) => aggregateItems({ ...c, table: this.#table }, options), this.#scanTimeout);
  }

  get #scanTimeout(): number {
    return Math.max(this.#timeout, 30_000);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const connected = await this.#connected?.catch(() => undefined);
    if (connected && !this.#options.client) connected.client.destroy();
  }

  /** The input of a request on one item, with the attribute names its expressions use. */
  #item<T extends Expressions>(id: string, input: T) {
    return named({ TableName: this.#table, Key: { pk: s(id) }, ...input });
  }

  async #read(c: Connection, id: string): Promise<Item | undefined> {
    return (await c.send(new c.sdk.GetItemCommand({ ...this.#item(id, {}), ConsistentRead: true }))).Item;
  }

  /** One conditional UpdateItem that applies only while `token` holds a live claim. */
  async #updateHeld(c: Connection, id: string, token: number, update: string, values: (now: number) => Item) {
    const now = Date.now();
    const input = this.#item(id, { UpdateExpression: update, ConditionExpression: HELD });
    const held = { ":token": n(token), ":inflight": s("in-flight"), ":now": n(now) };
    const command = new c.sdk.UpdateItemCommand({ ...input, ExpressionAttributeValues: { ...held, ...values(now) } });
    return "output" in (await conditional(c.send(command)));
  }

  /** Runs one operation under one deadline, mapping SDK errors to oncely's store errors. */
  async #run<T>(operation: string, body: (connection: Connection) => Promise<T>, timeout = this.#timeout) {
    if (this.#closed) throw new StoreError(this.name, operation, "failed: the store is closed");
    this.#connected ??= this.#connect().catch((error: unknown) => {
      this.#connected = undefined;
      throw error;
    });
    const { sdk, client } = await this.#connected;
    const signal = AbortSignal.timeout(timeout);
    const send = ((command: never) => client.send(command, { abortSignal: signal })) as DynamoDBClient["send"];
    try {
      return await body({ sdk, client, send, signal });
    } catch (error) {
      if (isOncelyError(error)) throw error;
      if (signal.aborted) {
        throw new StoreTimeoutError(this.name, operation, `timed out after ${timeout} ms`, { cause: error });
      }
      const { name, message } = error as Error;
      // The size check before writing estimates what the claim wrote; DynamoDB has the last word.
      if (/item size .*exceeded/i.test(message)) {
        throw new RecordTooLargeError(this.name, operation, `failed: ${message}`, { cause: error });
      }
      const hint = name === "ResourceNotFoundException" ? ` (table "${this.#table}"; see store.createTable())` : "";
      throw new StoreError(this.name, operation, `failed: ${message}${hint}`, { cause: error });
    }
  }

  async #connect(): Promise<Pick<Connection, "sdk" | "client">> {
    const sdk: Connection["sdk"] = await loadDriver(
      "dynamodb",
      "DynamoDbStore",
      "@aws-sdk/client-dynamodb",
      () => import("@aws-sdk/client-dynamodb"),
    );
    const { client, region, endpoint } = this.#options;
    if (client) return { sdk, client };
    const requestHandler = { connectionTimeout: this.#timeout, requestTimeout: this.#timeout };
    return { sdk, client: new sdk.DynamoDBClient({ region, ...(endpoint ? { endpoint } : {}), requestHandler }) };
  }
}

function tooLarge(operation: string, size: number): RecordTooLargeError {
  const message = `failed: the record would be about ${size} bytes, over DynamoDB's ${ITEM_LIMIT}-byte item limit`;
  return new RecordTooLargeError("dynamodb", operation, message);
}
