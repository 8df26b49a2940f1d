import { type Duration, toMilliseconds } from "../core/duration.js";
import { InvalidCursorError, StoreError, StoreFullError } from "../core/errors.js";
import {
  type ClaimOptions,
  type ClaimResult,
  type IdempotencyRecord,
  type ListOptions,
  type ListPage,
  RECORD_FORMAT_VERSION,
  type StepRecord,
  type Store,
  type StoredResponse,
} from "../core/store.js";
import { rejectUnknownOptions } from "../core/unknown-options.js";
import { ExpiryQueue } from "./memory/expiry-queue.js";
import { ScopeCounts } from "./memory/scope-counts.js";

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

/** A record as held: `queued` is the time its entry in the expiry queue was queued at. */
type HeldRecord = IdempotencyRecord & { queued: number };

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
export class MemoryStore implements Store {
  readonly name = "memory";
  readonly #records = new Map<string, HeldRecord>();
  readonly #expiries = new ExpiryQueue();
  readonly #scopes = new ScopeCounts();
  readonly #maxEntries: number;
  readonly #maxEntriesPerScope: number;
  readonly #now: () => number;
  readonly #sweeper: ReturnType<typeof setInterval>;

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
    const now = this.#now();
    let existing = this.#records.get(id);
    if (!existing || existing.expiresAt <= now) {
      const scope = options.meta.scope;
      if (!existing || existing.meta.scope !== scope) {
        this.#makeRoom(now, scope, !existing);
        // The sweep that made room may have removed the expired record under this very id.
        existing = this.#records.get(id);
      }
      const runId = options.runId ?? crypto.randomUUID();
      // A fresh record's token starts at the clock, so it can never equal a token of an expired predecessor.
      const token = Math.max(now, (existing?.token ?? 0) + 1);
      const record: HeldRecord = {
        id,
        state: "in-flight",
        fingerprint,
        token,
        createdAt: now,
        leaseUntil: now + options.lease,
        expiresAt: now + options.ttl,
        meta: { ...options.meta },
        runId,
        steps: [],
        version: RECORD_FORMAT_VERSION,
        queued: existing?.queued ?? now + options.ttl,
      };
      if (options.work) record.work = { ...options.work };
      // A record replacing an expired one takes over its queue entry, which comes up before the new expiry.
      if (!existing) this.#expiries.push(id, record.queued);
      if (!existing || existing.meta.scope !== scope) {
        if (existing) this.#scopes.remove(existing.meta.scope);
        this.#scopes.add(scope);
      }
      this.#records.set(id, record);
      return { status: "claimed", token, recovered: false, runId, steps: [] };
    }
    if (existing.state === "completed") return { status: "completed", record: copy(existing) };
    const lapsed = existing.state === "in-flight" && existing.leaseUntil <= now;
    if ((existing.state === "released" || lapsed) && existing.fingerprint === fingerprint) {
      existing.token += 1;
      existing.state = "in-flight";
      existing.leaseUntil = now + options.lease;
      existing.expiresAt = Math.max(existing.expiresAt, now + options.ttl);
      const steps = (existing.steps ?? []).map((step) => ({ ...step }));
      return { status: "claimed", token: existing.token, recovered: lapsed, runId: existing.runId, steps };
    }
    return { status: "in-flight", record: copy(existing) };
  }

  async renew(id: string, token: number, lease: number): Promise<boolean> {
    const record = this.#held(id, token);
    if (!record) return false;
    record.leaseUntil = this.#now() + lease;
    return true;
  }

  async complete(id: string, token: number, response: StoredResponse, ttl: number): Promise<boolean> {
    const record = this.#held(id, token);
    if (!record) return false;
    const now = this.#now();
    record.state = "completed";
    record.leaseUntil = 0;
    record.completedAt = now;
    record.expiresAt = now + ttl;
    record.response = { ...response, headers: response.headers.map(([n, v]) => [n, v]), body: response.body.slice() };
    this.#requeueIfEarlier(id, record);
    return true;
  }

  async release(id: string, token: number): Promise<boolean> {
    const record = this.#held(id, token);
    if (!record) return false;
    record.state = "released";
    record.leaseUntil = 0;
    return true;
  }

  async saveStep(id: string, token: number, step: StepRecord): Promise<boolean> {
    const record = this.#held(id, token);
    if (!record) return false;
    record.steps ??= [];
    const steps = record.steps;
    const at = steps.findIndex((kept) => kept.name === step.name);
    if (at === -1) {
      if (steps.length >= MAX_STEPS)
        throw new StoreError("memory", "saveStep", `holds ${MAX_STEPS} steps for this run`);
      steps.push({ ...step });
      steps.sort((a, b) => a.seq - b.seq);
    } else if (steps[at]!.state === "started") {
      steps[at] = { ...step };
    }
    return true;
  }

  async countReplays(counts: ReadonlyMap<string, number>): Promise<void> {
    for (const [id, count] of counts) {
      const record = this.#records.get(id);
      if (record?.state === "completed") record.replays = (record.replays ?? 0) + count;
    }
  }

  async get(id: string): Promise<IdempotencyRecord | undefined> {
    const record = this.#records.get(id);
    return record && record.expiresAt > this.#now() ? copy(record) : undefined;
  }

  async delete(id: string): Promise<boolean> {
    return this.#remove(id);
  }

  async list(options: ListOptions = {}): Promise<ListPage> {
    const now = this.#now();
    const offset = options.cursor ? Number(options.cursor) : 0;
    if (!Number.isSafeInteger(offset) || offset < 0) throw new InvalidCursorError(options.cursor);
    const limit = options.limit ?? 100;
    const matching = [...this.#records.values()]
      .filter((r) => r.expiresAt > now && (!options.state || r.state === options.state))
      .filter((r) => options.since === undefined || r.createdAt >= options.since)
      .sort((a, b) => b.createdAt - a.createdAt);
    const records = matching.slice(offset, offset + limit).map(copy);
    return offset + limit < matching.length ? { records, cursor: String(offset + limit) } : { records };
  }

  async purgeExpired(options: { limit?: number } = {}): Promise<number> {
    return this.#sweep(options.limit ?? Number.POSITIVE_INFINITY);
  }

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
  }

  /** The record if `token` still holds its claim (in flight, same token, not expired). */
  #held(id: string, token: number): HeldRecord | undefined {
    const record = this.#records.get(id);
    if (record?.state !== "in-flight" || record.token !== token || record.expiresAt <= this.#now()) return;
    return record;
  }

  #remove(id: string): boolean {
    const record = this.#records.get(id);
    if (!record) return false;
    this.#records.delete(id);
    this.#scopes.remove(record.meta.scope);
    return true;
  }

  /** An expiry moved earlier than its queued time must be queued again, or the sweep would reach it late. */
  #requeueIfEarlier(id: string, record: HeldRecord): void {
    if (record.expiresAt >= record.queued) return;
    record.queued = record.expiresAt;
    this.#expiries.push(id, record.queued);
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
      if (record?.queued !== at) continue;
      if (record.expiresAt <= now) {
        this.#remove(id);
        removed += 1;
      } else {
        record.queued = record.expiresAt;
        queue.push(id, record.queued);
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

function positiveInteger(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new TypeError(`Expected \`${name}\` to be a positive integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** A copy callers may change freely; the body bytes are shared (read-only by contract) to keep replays cheap. */
function copy({ queued: _, ...record }: HeldRecord): IdempotencyRecord {
  return {
    ...record,
    meta: { ...record.meta },
    response: record.response && { ...record.response },
    ...(record.steps ? { steps: record.steps.map((step) => ({ ...step })) } : {}),
    ...(record.work ? { work: { ...record.work } } : {}),
  };
}
