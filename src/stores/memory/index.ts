import { answeredNow, type ClaimAnswer, claimNow } from "../../core/claim-now.js";
import { type Duration, toMilliseconds } from "../../core/duration.js";
import { InvalidCursorError, RecordTooLargeError, StoreError, StoreFullError } from "../../core/errors.js";
import type {
  AggregateOptions,
  ClaimedResult,
  ClaimOptions,
  ClaimResult,
  IdempotencyRecord,
  ListOptions,
  ListPage,
  StepRecord,
  StoreAggregate,
  StoredResponse,
  StreamRead,
  StreamRunState,
  StreamStore,
} from "../../core/store.js";
import { rejectUnknownOptions } from "../../core/unknown-options.js";
import { ExpiryQueue } from "./expiry-queue.js";
import {
  CREATED_AT,
  decodeFields,
  decodeRecord,
  EXPIRES_AT,
  encodeRecord,
  fingerprintMatches,
  foundOf,
  LEASE_UNTIL,
  numberAt,
  QUEUED,
  REPLAYS,
  runIdOf,
  scopeOf,
  stateOf,
  stepsOf,
  TOKEN,
  withNumbers,
  withResponse,
} from "./record-codec.js";
import { ScopeCounts } from "./scope-counts.js";
import type { StreamLogs } from "./stream-logs.js";

/** The most steps one run may record; the engine enforces its own, lower, limit first. */
const MAX_STEPS = 1_000;
/**
 * How many queued expiries a claim that finds the store full looks at before it refuses: enough to clear the records
 * that expired since the last sweep in most cases, and a bound on the work one request can be made to do.
 */
const SWEEP_ON_FULL = 100;

const OPTION_NAMES: readonly (keyof MemoryStoreOptions)[] = [
  "maxEntries",
  "maxEntriesPerScope",
  "sweepInterval",
  "now",
];

/**
 * The largest body a record keeps: a record is one string, and V8's strings stop at 2^29 - 24 characters. A larger
 * response is stored as not kept (the engine does that on `RecordTooLargeError`).
 */
const MAX_BODY_BYTES = 2 ** 28;

/** Options of `MemoryStore`: how many records it keeps and how often it sweeps expired ones. */
export interface MemoryStoreOptions {
  /**
   * The most records kept. An unexpired record is never dropped to make room: when the store is full, a claim of a
   * new key sweeps expired records first and, if none has expired, is refused with a `StoreFullError` (answered 503
   * with `Retry-After`, event `store-full`). Keys already held still replay, conflict and take over.
   * @default 100_000
   */
  maxEntries?: number;
  /**
   * The most records one scope (tenant) may hold, so that one tenant sending fresh keys cannot fill the store for the
   * others: a scope at its quota gets the same `StoreFullError` for a new key, while other scopes still claim.
   * Records without a scope count as one scope together.
   * @default maxEntries (no quota below the store's own limit)
   */
  maxEntriesPerScope?: number;
  /**
   * How often expired records are swept.
   * @default "1m"
   */
  sweepInterval?: Duration;
  /** The clock, epoch ms. Tests inject one to move time without sleeping. @default Date.now */
  now?: () => number;
}

/**
 * Keeps records in this process's memory: for tests, single-process apps and development. Records vanish on
 * restart and are not shared between processes; use a durable store for anything else.
 *
 * @throws {TypeError} for an unknown option (`maxEntrys`: did you mean `maxEntries`?) or a limit that is not a
 * positive integer
 * @example
 * const idem = createIdempotency({ store: new MemoryStore({ maxEntries: 10_000 }) });
 */
export class MemoryStore implements StreamStore {
  readonly name = "memory";
  /** Each record encoded as one string (see record-codec.ts), by id. */
  readonly #records = new Map<string, string>();
  readonly #expiries = new ExpiryQueue();
  readonly #scopes = new ScopeCounts();
  /** The stream logs, loaded with their code on the first append or read (most apps never stream). */
  #streams: StreamLogs | undefined;
  /** Their loading, shared: two calls that both waited on it would otherwise each make logs of their own. */
  #loadingStreams: Promise<StreamLogs> | undefined;
  readonly #maxEntries: number;
  readonly #maxEntriesPerScope: number;
  readonly #now: () => number;
  readonly #sweeper: ReturnType<typeof setInterval>;
  /**
   * Run ids are this store's random prefix and a count: unique per record, as a random UUID per record would be (the
   * prefix is one), at a fraction of its cost on every new key.
   */
  readonly #runPrefix = crypto.randomUUID().replaceAll("-", "");
  #runs = 0;

  static {
    answeredNow(MemoryStore.prototype.claim);
  }

  constructor(options: MemoryStoreOptions = {}) {
    rejectUnknownOptions("MemoryStore", options, OPTION_NAMES);
    const { maxEntries = 100_000, maxEntriesPerScope = maxEntries } = options;
    this.#maxEntries = positiveInteger(maxEntries, "maxEntries");
    this.#maxEntriesPerScope = positiveInteger(maxEntriesPerScope, "maxEntriesPerScope");
    this.#now = options.now ?? Date.now;
    const interval = toMilliseconds(options.sweepInterval ?? "1m", "sweepInterval");
    this.#sweeper = setInterval(() => this.#sweep(Number.POSITIVE_INFINITY), interval);
    this.#sweeper.unref?.();
  }

  /** How many records are held, expired ones not yet swept included. */
  get size(): number {
    return this.#records.size;
  }

  async claim(id: string, fingerprint: string, options: ClaimOptions): Promise<ClaimResult> {
    const answer = this.#claim(id, fingerprint, options);
    if (typeof answer !== "string") return answer;
    // The record, whole, decoded once: `[claimNow]` answers the engine with only what it decides by.
    return { status: foundState(answer), record: this.#decode(id, answer, fingerprint) };
  }

  /**
   * `claim`, answered in the caller's turn: the engine's way in, which skips the promises and the store timeout a call
   * that waits on nothing does not need (see claim-now.ts).
   * @internal
   */
  [claimNow](id: string, fingerprint: string, options: ClaimOptions): ClaimAnswer {
    const answer = this.#claim(id, fingerprint, options);
    if (typeof answer !== "string") return answer;
    return { status: foundState(answer), record: foundOf(answer, fingerprint) };
  }

  /** The claim made, or the record found (another request's), encoded, for `claim` or `[claimNow]` to decode. */
  #claim(id: string, fingerprint: string, options: ClaimOptions): ClaimedResult | string {
    const now = this.#now();
    let existing = this.#records.get(id);
    if (existing === undefined || numberAt(existing, EXPIRES_AT) <= now) {
      const scope = options.meta.scope;
      const replacedScope = existing === undefined ? undefined : scopeOf(existing);
      if (existing === undefined || replacedScope !== scope) {
        this.#makeRoom(now, scope, existing === undefined);
        // The sweep that made room may have removed the expired record under this very id.
        existing = this.#records.get(id);
      }
      const runId = options.runId ?? `${this.#runPrefix}.${(this.#runs++).toString(36)}`;
      // A fresh record's token starts at the clock, so it can never equal a token of an expired predecessor.
      const token = Math.max(now, existing === undefined ? 0 : numberAt(existing, TOKEN) + 1);
      const expiresAt = now + options.ttl;
      // A record replacing an expired one takes over its queue entry, which comes up before the new expiry.
      const queued = existing === undefined ? expiresAt : numberAt(existing, QUEUED);
      const record = encodeRecord({
        state: "in-flight",
        fingerprint,
        token,
        createdAt: now,
        leaseUntil: now + options.lease,
        expiresAt,
        queued,
        runId,
        meta: options.meta,
        ...(options.work ? { work: options.work } : {}),
        steps: [],
      });
      if (existing === undefined) this.#expiries.push(id, queued);
      if (existing === undefined || replacedScope !== scope) {
        if (existing !== undefined) this.#scopes.remove(replacedScope);
        this.#scopes.add(scope);
      }
      this.#records.set(id, record);
      return { status: "claimed", token, recovered: false, runId, steps: [] };
    }
    const state = stateOf(existing);
    if (state === "completed") return existing;
    const lapsed = state === "in-flight" && numberAt(existing, LEASE_UNTIL) <= now;
    if ((state === "released" || lapsed) && fingerprintMatches(existing, fingerprint)) {
      const token = numberAt(existing, TOKEN) + 1;
      const expiresAt = Math.max(numberAt(existing, EXPIRES_AT), now + options.ttl);
      const record = withNumbers(
        existing,
        "in-flight",
        TOKEN,
        token,
        LEASE_UNTIL,
        now + options.lease,
        EXPIRES_AT,
        expiresAt,
      );
      this.#records.set(id, record);
      return { status: "claimed", token, recovered: lapsed, runId: runIdOf(record), steps: stepsOf(record) };
    }
    return existing;
  }

  async renew(id: string, token: number, lease: number): Promise<boolean> {
    const record = this.#held(id, token);
    if (record === undefined) return false;
    this.#records.set(id, withNumbers(record, undefined, LEASE_UNTIL, this.#now() + lease));
    return true;
  }

  async complete(id: string, token: number, response: StoredResponse, ttl: number): Promise<boolean> {
    const record = this.#held(id, token);
    if (record === undefined) return false;
    if (response.body.byteLength > MAX_BODY_BYTES) {
      throw new RecordTooLargeError(this.name, "complete", `refused: a body over ${MAX_BODY_BYTES} bytes`);
    }
    const now = this.#now();
    const completed = withResponse(record, response, now, now + ttl);
    this.#records.set(id, completed);
    this.#requeueIfEarlier(id, completed);
    this.#streams?.wake(id);
    return true;
  }

  async release(id: string, token: number): Promise<boolean> {
    const record = this.#held(id, token);
    if (record === undefined) return false;
    this.#records.set(id, withNumbers(record, "released", LEASE_UNTIL, 0));
    this.#streams?.wake(id);
    return true;
  }

  async appendStream(id: string, token: number, entries: Uint8Array[]): Promise<boolean> {
    if (this.#held(id, token) === undefined) return false;
    const streams = this.#streams ?? (await this.#loadStreams());
    // Checked again: the record may have changed while the code loaded.
    if (this.#held(id, token) === undefined) return false;
    streams.append(id, token, entries);
    return true;
  }

  /** Wakes on the append itself (or the run's completion or release); rechecks the lease after `wait`. */
  async readStream(id: string, token: number, from: number, wait: number): Promise<StreamRead> {
    const streams = this.#streams ?? (await this.#loadStreams());
    const entries = streams.read(id, token, from);
    const state = this.#runState(id, token);
    if (entries.length > 0 || state !== "held" || wait <= 0) return { entries, state };
    await streams.next(id, wait);
    return { entries: streams.read(id, token, from), state: this.#runState(id, token) };
  }

  #loadStreams(): Promise<StreamLogs> {
    this.#loadingStreams ??= import("./stream-logs.js").then(({ StreamLogs }) => {
      this.#streams = new StreamLogs();
      return this.#streams;
    });
    return this.#loadingStreams;
  }

  async saveStep(id: string, token: number, step: StepRecord): Promise<boolean> {
    const record = this.#held(id, token);
    if (record === undefined) return false;
    const fields = decodeFields(record);
    const steps = fields.steps;
    const at = steps.findIndex((kept) => kept.name === step.name);
    if (at === -1) {
      if (steps.length >= MAX_STEPS)
        throw new StoreError("memory", "saveStep", `holds ${MAX_STEPS} steps for this run`);
      steps.push({ ...step });
      steps.sort((a, b) => a.seq - b.seq);
    } else if (steps[at]!.state === "started") {
      steps[at] = { ...step };
    } else return true;
    this.#records.set(id, encodeRecord(fields));
    return true;
  }

  async countReplays(counts: ReadonlyMap<string, number>): Promise<void> {
    for (const [id, count] of counts) {
      const record = this.#records.get(id);
      if (record === undefined || stateOf(record) !== "completed") continue;
      const replays = numberAt(record, REPLAYS);
      this.#records.set(id, withNumbers(record, undefined, REPLAYS, (Number.isNaN(replays) ? 0 : replays) + count));
    }
  }

  async get(id: string): Promise<IdempotencyRecord | undefined> {
    const record = this.#records.get(id);
    return record !== undefined && numberAt(record, EXPIRES_AT) > this.#now() ? this.#decode(id, record) : undefined;
  }

  async delete(id: string): Promise<boolean> {
    return this.#remove(id);
  }

  async list(options: ListOptions = {}): Promise<ListPage> {
    const now = this.#now();
    const offset = options.cursor ? Number(options.cursor) : 0;
    if (!Number.isSafeInteger(offset) || offset < 0) throw new InvalidCursorError(options.cursor);
    const limit = options.limit ?? 100;
    const matching: [id: string, record: string, createdAt: number][] = [];
    for (const [id, record] of this.#records) {
      if (numberAt(record, EXPIRES_AT) <= now || (options.state && stateOf(record) !== options.state)) continue;
      const createdAt = numberAt(record, CREATED_AT);
      if (options.since === undefined || createdAt >= options.since) matching.push([id, record, createdAt]);
    }
    matching.sort((a, b) => b[2] - a[2]);
    const records = matching.slice(offset, offset + limit).map(([id, record]) => this.#decode(id, record));
    return offset + limit < matching.length ? { records, cursor: String(offset + limit) } : { records };
  }

  async purgeExpired(options: { limit?: number } = {}): Promise<number> {
    return this.#sweep(options.limit ?? Number.POSITIVE_INFINITY);
  }

  /** One pass over the records' fixed headers: no record is decoded. */
  async aggregate(options: AggregateOptions = {}): Promise<StoreAggregate> {
    const now = this.#now();
    const soon = now + (options.expiringWithin ?? 3_600_000);
    const result: StoreAggregate = {
      states: { "in-flight": 0, released: 0, completed: 0 },
      expiringSoon: 0,
      expired: 0,
    };
    for (const record of this.#records.values()) {
      const expiresAt = numberAt(record, EXPIRES_AT);
      if (expiresAt <= now) {
        result.expired++;
        continue;
      }
      result.states[stateOf(record)]++;
      if (expiresAt <= soon) result.expiringSoon++;
      const createdAt = numberAt(record, CREATED_AT);
      if (result.oldest === undefined || createdAt < result.oldest) result.oldest = createdAt;
      if (result.newest === undefined || createdAt > result.newest) result.newest = createdAt;
    }
    return result;
  }

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
  }

  /** The whole record for a caller, who may change it freely: nothing in it is shared with the store. */
  #decode(id: string, record: string, fingerprint?: string): IdempotencyRecord {
    return decodeRecord(
      id,
      record,
      fingerprint !== undefined && fingerprintMatches(record, fingerprint) ? fingerprint : undefined,
    );
  }

  /** The record if `token` still holds its claim (in flight, same token, not expired). */
  #held(id: string, token: number): string | undefined {
    const record = this.#records.get(id);
    if (record === undefined || stateOf(record) !== "in-flight" || numberAt(record, TOKEN) !== token) return;
    return numberAt(record, EXPIRES_AT) <= this.#now() ? undefined : record;
  }

  /** Where the record stands for the run of `token` (see `StreamRunState`). */
  #runState(id: string, token: number): StreamRunState {
    const record = this.#records.get(id);
    const now = this.#now();
    if (record === undefined || numberAt(record, TOKEN) !== token || numberAt(record, EXPIRES_AT) <= now) return "gone";
    const state = stateOf(record);
    if (state === "completed") return "completed";
    return state === "in-flight" && numberAt(record, LEASE_UNTIL) > now ? "held" : "gone";
  }

  #remove(id: string): boolean {
    const record = this.#records.get(id);
    if (record === undefined) return false;
    this.#records.delete(id);
    this.#streams?.delete(id);
    this.#scopes.remove(scopeOf(record));
    return true;
  }

  /** An expiry moved earlier than its queued time must be queued again, or the sweep would reach it late. */
  #requeueIfEarlier(id: string, record: string): void {
    const expiresAt = numberAt(record, EXPIRES_AT);
    if (expiresAt >= numberAt(record, QUEUED)) return;
    this.#records.set(id, withNumbers(record, undefined, QUEUED, expiresAt));
    this.#expiries.push(id, expiresAt);
  }

  /**
   * Removes up to `limit` expired records, looking at no more than `budget` queue entries. An entry that comes up
   * before its record's expiry (the record was completed or taken over since) is queued again at that expiry.
   */
  #sweep(limit: number, budget = Number.POSITIVE_INFINITY): number {
    const now = this.#now();
    const queue = this.#expiries;
    let removed = 0;
    for (let looked = 0; removed < limit && looked < budget && queue.nextAt <= now; looked++) {
      const at = queue.nextAt;
      const id = queue.nextId;
      queue.pop();
      const record = this.#records.get(id);
      // Gone, or queued again elsewhere: this entry is stale.
      if (record === undefined || numberAt(record, QUEUED) !== at) continue;
      const expiresAt = numberAt(record, EXPIRES_AT);
      if (expiresAt <= now) {
        this.#remove(id);
        removed += 1;
      } else {
        this.#records.set(id, withNumbers(record, undefined, QUEUED, expiresAt));
        queue.push(id, expiresAt);
      }
    }
    return removed;
  }

  /**
   * Makes room for a record of `scope` (one more in the store when it `grows`, else one replacing an expired record of
   * another scope) by sweeping expired records, boundedly, or refuses the claim.
   */
  #makeRoom(now: number, scope: string | undefined, grows: boolean): void {
    const storeFull = () => grows && this.#records.size >= this.#maxEntries;
    const scopeFull = () => this.#scopes.count(scope) >= this.#maxEntriesPerScope;
    if (!storeFull() && !scopeFull()) return;
    this.#sweep(Number.POSITIVE_INFINITY, SWEEP_ON_FULL);
    if (storeFull()) throw new StoreFullError(this.name, "store", this.#retryAfter(now));
    if (scopeFull()) throw new StoreFullError(this.name, "scope", this.#retryAfter(now));
  }

  /** Whole seconds until the earliest queued expiry: no record can leave the store sooner. */
  #retryAfter(now: number): number {
    return Math.max(1, Math.ceil((this.#expiries.nextAt - now) / 1000));
  }
}

/** What a claim that found `record` answers: a released record another request's claim found counts as in flight. */
function foundState(record: string): "completed" | "in-flight" {
  return stateOf(record) === "completed" ? "completed" : "in-flight";
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new TypeError(`Expected \`${name}\` to be a positive integer, got ${JSON.stringify(value)}`);
  }
  return value;
}
