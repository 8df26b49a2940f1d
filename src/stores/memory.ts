import { type Duration, toMilliseconds } from "../core/duration.js";
import { InvalidCursorError, StoreError } from "../core/errors.js";
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
import { OldestEntry } from "./oldest-entry.js";

/** The most steps one run may record; the engine enforces its own, lower, limit first. */
const MAX_STEPS = 1_000;

/** Options of `MemoryStore`: how many records it keeps and how often it sweeps expired ones. */
export interface MemoryStoreOptions {
  /**
   * The most records kept. When full, expired records go first, then the oldest completed, then released ones;
   * live claims are never evicted (a claim then fails with a `StoreError`, answered 503).
   * @default 100_000
   */
  maxEntries?: number;
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
 * @example
 * const idem = createIdempotency({ store: new MemoryStore({ maxEntries: 10_000 }) });
 */
export class MemoryStore implements Store {
  readonly name = "memory";
  readonly #records = new Map<string, IdempotencyRecord>();
  /** Completed and released records by id, oldest first: the eviction order. */
  readonly #completed = new Map<string, IdempotencyRecord>();
  readonly #released = new Map<string, IdempotencyRecord>();
  readonly #oldestRecord = new OldestEntry(this.#records);
  readonly #oldestCompleted = new OldestEntry(this.#completed);
  readonly #oldestReleased = new OldestEntry(this.#released);
  readonly #maxEntries: number;
  readonly #now: () => number;
  readonly #sweeper: ReturnType<typeof setInterval>;

  constructor(options: MemoryStoreOptions = {}) {
    const { maxEntries = 100_000 } = options;
    if (!Number.isInteger(maxEntries) || maxEntries < 1) {
      throw new TypeError(`Expected \`maxEntries\` to be a positive integer, got ${JSON.stringify(maxEntries)}`);
    }
    this.#maxEntries = maxEntries;
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
    const existing = this.#records.get(id);
    if (!existing || existing.expiresAt <= now) {
      // A record replacing an expired one under the same id is new: it goes to the end of the eviction order.
      if (existing) this.#remove(id);
      else this.#makeRoom();
      const runId = options.runId ?? crypto.randomUUID();
      // A fresh record's token starts at the clock, so it can never equal a token of an expired predecessor.
      const token = Math.max(now, (existing?.token ?? 0) + 1);
      const record: IdempotencyRecord = {
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
      };
      if (options.work) record.work = { ...options.work };
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
      this.#released.delete(id);
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
    this.#completed.set(id, record);
    return true;
  }

  async release(id: string, token: number): Promise<boolean> {
    const record = this.#held(id, token);
    if (!record) return false;
    record.state = "released";
    record.leaseUntil = 0;
    this.#released.set(id, record);
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
  #held(id: string, token: number): IdempotencyRecord | undefined {
    const record = this.#records.get(id);
    if (record?.state !== "in-flight" || record.token !== token || record.expiresAt <= this.#now()) return;
    return record;
  }

  #remove(id: string): boolean {
    this.#completed.delete(id);
    this.#released.delete(id);
    return this.#records.delete(id);
  }

  #sweep(limit: number): number {
    const now = this.#now();
    let removed = 0;
    for (const [id, record] of this.#records) {
      if (removed >= limit) break;
      if (record.expiresAt <= now) {
        this.#remove(id);
        removed += 1;
      }
    }
    return removed;
  }

  #makeRoom(): void {
    if (this.#records.size < this.#maxEntries) return;
    const oldest = this.#oldestRecord.get();
    if (oldest && oldest[1].expiresAt <= this.#now()) {
      this.#remove(oldest[0]);
      return;
    }
    const victim = this.#oldestCompleted.get() ?? this.#oldestReleased.get();
    if (victim === undefined) {
      throw new StoreError("memory", "claim", `is full: all ${this.#maxEntries} records are live claims`);
    }
    this.#remove(victim[0]);
  }
}

/** A copy callers may change freely; the body bytes are shared (read-only by contract) to keep replays cheap. */
function copy(record: IdempotencyRecord): IdempotencyRecord {
  return {
    ...record,
    meta: { ...record.meta },
    response: record.response && { ...record.response },
    ...(record.steps ? { steps: record.steps.map((step) => ({ ...step })) } : {}),
    ...(record.work ? { work: { ...record.work } } : {}),
  };
}
