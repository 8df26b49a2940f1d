/**
 * The store contract. Every operation is atomic in the backend; `claim`, `renew`, `complete` and `release` are
 * fenced by a token that only ever rises for a record, so a holder whose lease lapsed can never overwrite the
 * work of the holder that took over.
 */

/** The format version written into every record, so a newer oncely can read what an older one wrote. */
export const RECORD_FORMAT_VERSION = 1;

/** What the engine stores for a completed request. */
export interface StoredResponse {
  /** The HTTP status the handler answered with. */
  status: number;
  /** Response headers in order, lower-case names, repeated names allowed. */
  headers: [string, string][];
  /** The body as sent, byte for byte (empty for a 204 or when not kept). */
  body: Uint8Array;
  /**
   * `false` when the response exceeded `maxResponseBytes`: the operation completed, but only its status was kept
   * and retries are answered with a `response_not_kept` problem.
   */
  kept: boolean;
}

/** Descriptive data stored with a record for operators (CLI, events). Never bodies, never the scope in clear. */
export interface RecordMeta {
  /** The client's Idempotency-Key. */
  key: string;
  /** A short hash of the scope (principal, tenant), or absent when no scope is configured. */
  scope?: string;
  /** The request method, for operators. */
  method?: string;
  /** The request path, for operators. */
  path?: string;
}

/** Where a record is in its life: running under a lease, given up by its holder (claimable again), or done. */
export type RecordState = "in-flight" | "released" | "completed";

/**
 * One checkpoint of a run's steps (`step(name, fn)`): kept under its record, fenced by the claim's token, expiring
 * with the record.
 */
export interface StepRecord {
  /** The step's name: unique in its run. */
  name: string;
  /** The step's position in its run (0, 1, ...): the order the handler first asked for its steps in. */
  seq: number;
  /**
   * `started`: an attempt began the step, and its effect may be done; `done`: its result is kept; `failed`: it threw
   * an error marked terminal, which is kept.
   */
  state: "started" | "done" | "failed";
  /** JSON text: the result (`done`; absent when the step returned `undefined`) or the terminal error (`failed`). */
  value?: string;
}

/** A registered handler's name and its JSON input, kept with a run started by `idem.run(key, name, input)`. */
export interface StoredWork {
  /** The name the handler was registered under with `idem.define`. */
  name: string;
  /** JSON text. */
  input: string;
}

/** One (scope, key) as a store keeps it: who holds it, its fingerprint, and the stored outcome once complete. */
export interface IdempotencyRecord {
  /** The storage id: a hash of (scope, key). */
  id: string;
  /** Running, released or completed. */
  state: RecordState;
  /** SHA-256 of what the request was (method, path, query, body...): a retry must match it, or it gets a 422. */
  fingerprint: string;
  /** The fencing token of the latest claim. */
  token: number;
  /** Epoch ms when the record (or, after expiry, its successor) was first claimed. */
  createdAt: number;
  /** Epoch ms until which the current holder's lease runs (in-flight records only; 0 otherwise). */
  leaseUntil: number;
  /** Epoch ms after which the record is gone and the key is new again. */
  expiresAt: number;
  /** Epoch ms of completion (completed records only). */
  completedAt?: number;
  /** The stored outcome (completed records only). */
  response?: StoredResponse;
  /** What operators see about the record. */
  meta: RecordMeta;
  /**
   * The run's id: minted by the first claim and kept across takeovers and releases, so step keys stay stable on
   * every retry. Absent in stores without steps.
   */
  runId?: string;
  /** The run's recorded steps, in `seq` order (stores with steps). */
  steps?: StepRecord[];
  /** The registered handler and input the run was started with (`idem.run(key, name, input)`), for `recover()`. */
  work?: StoredWork;
  /** How often the stored response was replayed, as far as the engines counted (stores with `countReplays`). */
  replays?: number;
  /** The record format version (see `RECORD_FORMAT_VERSION`). */
  version: number;
}

/** What `claim` needs besides the id and fingerprint. */
export interface ClaimOptions {
  /** How long the claim holds before another request may take it over, ms. */
  lease: number;
  /** How long an unfinished record is kept, ms; `complete` sets the retention from completion. */
  ttl: number;
  /** Stored with the record for operators. */
  meta: RecordMeta;
  /**
   * The run id a new record gets (stores with steps mint one when absent); a record that already has one keeps it.
   */
  runId?: string;
  /** Kept on a new record only. */
  work?: StoredWork;
}

/** A claim won. Stores with steps also say which run it continues and what that run recorded. */
export interface ClaimedResult {
  /** The caller holds the record now. */
  status: "claimed";
  /** The fencing token every later `renew`, `complete`, `release` and `saveStep` must present. */
  token: number;
  /** True when the claim took over a lapsed lease of an earlier holder. */
  recovered: boolean;
  /** The record's run id (`ClaimOptions.runId` for a new record). */
  runId?: string;
  /** The steps recorded by earlier attempts of the run, in `seq` order; empty or absent when there are none. */
  steps?: StepRecord[];
}

/**
 * What `claim` found: the caller now holds the record (`claimed`), someone else does (`in-flight`), or it is done
 * (`completed`, with the stored response to replay).
 */
export type ClaimResult =
  | ClaimedResult
  /** Held by a live lease, or released/lapsed but claimed with a different fingerprint (the engine answers 422). */
  | {
      /** Someone else holds the record, or it cannot be taken over. */
      status: "in-flight";
      /** The record as it stands. */
      record: IdempotencyRecord;
    }
  | {
      /** The record is done; its response is replayed. */
      status: "completed";
      /** The completed record. */
      record: IdempotencyRecord;
    };

/** Filters and paging for `list`. */
export interface ListOptions {
  /** Only records in this state. */
  state?: RecordState;
  /** Only records created at or after this epoch ms. */
  since?: number;
  /** At most this many records per page. */
  limit?: number;
  /** The opaque cursor a previous page returned. */
  cursor?: string;
}

/** One page of `list`. */
export interface ListPage {
  /** The records of this page. */
  records: IdempotencyRecord[];
  /** Present when more records may follow. */
  cursor?: string;
}

/** What `aggregate` needs. */
export interface AggregateOptions {
  /**
   * The window of `expiringSoon`, ms from now.
   * @default 3_600_000
   */
  expiringWithin?: number;
}

/** What a store counts with its own aggregate queries, without reading records (`oncely stats`). */
export interface StoreAggregate {
  /** Live (unexpired) records per state. */
  states: Record<RecordState, number>;
  /** When the oldest live record was created, epoch ms; absent when there is none. */
  oldest?: number;
  /** When the newest live record was created, epoch ms; absent when there is none. */
  newest?: number;
  /** Live records whose retention ends within `expiringWithin` from now. */
  expiringSoon: number;
  /** Expired records still stored: what `purgeExpired` would delete. */
  expired: number;
}

/**
 * A backend that keeps idempotency records. Implementations hold no HTTP knowledge; they are tested with the
 * conformance suite in `oncely/testing`.
 */
export interface Store {
  /** A short name used in errors and events: `memory`, `sqlite`, `redis`, ... */
  readonly name: string;
  /**
   * Atomically claims `id` for a request with `fingerprint`. Creates the record when absent or expired; takes over
   * a released record or a lapsed lease (only when the fingerprint matches) with a higher token.
   */
  claim(id: string, fingerprint: string, options: ClaimOptions): Promise<ClaimResult>;
  /** Extends the lease; true only if `token` still holds the claim. */
  renew(id: string, token: number, lease: number): Promise<boolean>;
  /** Stores the outcome and keeps it for `ttl` ms from now; true only if `token` still holds the claim. */
  complete(id: string, token: number, response: StoredResponse, ttl: number): Promise<boolean>;
  /** Makes the record claimable again at once, keeping its fingerprint; true only if `token` still holds it. */
  release(id: string, token: number): Promise<boolean>;
  /** The record, or `undefined` when absent or expired. */
  get(id: string): Promise<IdempotencyRecord | undefined>;
  /** Removes the record; true if there was one. */
  delete(id: string): Promise<boolean>;
  /** Records, newest first where the backend can order them. */
  list(options?: ListOptions): Promise<ListPage>;
  /** Deletes up to `limit` expired records; returns how many it deleted. */
  purgeExpired(options?: { limit?: number }): Promise<number>;
  /**
   * Counts records by state, finds the oldest and newest, and counts what expires soon and what expired and is not
   * purged yet, with the backend's own aggregate queries (by its clock, like every read). Optional: without it,
   * `oncely stats` reads every record instead.
   */
  aggregate?(options?: AggregateOptions): Promise<StoreAggregate>;
  /**
   * Builds the store's own index for records an earlier oncely wrote without one, once after upgrading; returns how
   * many records it indexed. Optional: only stores that keep an index beside their records have it.
   */
  reindex?(): Promise<number>;
  /** Releases what the store opened (not a client the user passed in). */
  close(): Promise<void>;
  /**
   * Records a step of the run that `token` holds, in one atomic operation: adds the step, or replaces a `started`
   * one; a `done` or `failed` step is never replaced (the first result wins). True only if `token` still holds the
   * claim. Optional: without it, `step()` is refused with a `TypeError`.
   */
  saveStep?(id: string, token: number, step: StepRecord): Promise<boolean>;
  /**
   * Adds replay counts (id -> replays since the last call) to the records, for operators (`oncely inspect`). The
   * engine batches them off the request path and never waits for this; ids without a record are ignored. Optional.
   */
  countReplays?(counts: ReadonlyMap<string, number>): Promise<void>;
}

/** A store that records steps (`step(name, fn)`). */
export type StepStore = Store & Required<Pick<Store, "saveStep">>;

/** True when `store` records steps (it has `saveStep`). */
export function isStepStore(store: Store): store is StepStore {
  return typeof store.saveStep === "function";
}

/** A store that can run a step's own writes and record the step in one transaction of its database (`step.local`). */
export interface LocalStepStore extends StepStore {
  /**
   * Opens a transaction, runs `work` with its client, records the step as `done` with the JSON text `work` returns
   * (fenced by `token`) and commits. Resolves false, rolled back, when `token` no longer holds the claim; rejects,
   * rolled back, when `work` or the commit fails.
   */
  runLocalStep(
    id: string,
    token: number,
    step: Pick<StepRecord, "name" | "seq">,
    work: (transaction: unknown) => Promise<string | undefined>,
  ): Promise<boolean>;
}

/** True when `store` can run `step.local` (it has `runLocalStep`). */
export function isLocalStepStore(store: Store): store is LocalStepStore {
  return typeof (store as Partial<LocalStepStore>).runLocalStep === "function";
}

/** A transaction a transactional store opened for one claim: the handler's writes go through `client`. */
export interface StoreTransaction {
  /** What the handler writes through (PostgreSQL: the `PoolClient` holding the transaction). */
  readonly client: unknown;
  /**
   * Stores the outcome, fenced by the claim's token, and commits it together with the handler's writes. Rejects
   * when the commit fails; the store has then rolled back, or cannot tell, and has given up the connection.
   */
  commit(response: StoredResponse, ttl: number): Promise<void>;
  /** Undoes the claim and everything written through `client`. Never rejects. */
  rollback(): Promise<void>;
}

/** What `claimInTransaction` needs: `claim`'s options and how long to wait for a competing transaction. */
export interface TransactionalClaimOptions extends ClaimOptions {
  /** How long to wait, ms, for a transaction that holds the same id to end; 0 answers `in-flight` at once. */
  wait: number;
}

/** What `claimInTransaction` found: as `ClaimResult`, and a claim comes with its open transaction. */
export type TransactionalClaimResult =
  /** The caller holds the record inside `transaction`, through which the handler writes and the outcome commits. */
  | (ClaimedResult & {
      /** The open transaction: the handler writes through it, and it commits the outcome. */
      transaction: StoreTransaction;
    })
  /** Held by an open transaction (`record` is then the last committed state, if any) or by a live lease. */
  | {
      /** Someone else holds the record. */
      status: "in-flight";
      /** The last committed state of the record, if any. */
      record?: IdempotencyRecord;
    }
  | {
      /** The record is done; its response is replayed. */
      status: "completed";
      /** The completed record. */
      record: IdempotencyRecord;
    };

/**
 * A store whose backend can keep the claim, the handler's own writes and the stored outcome in one transaction,
 * so a crash leaves all or nothing. Enabled per route with `transactional: true`.
 */
export interface TransactionalStore extends Store {
  /** Opens a transaction and claims `id` inside it; the claim is invisible to others until it commits. */
  claimInTransaction(
    id: string,
    fingerprint: string,
    options: TransactionalClaimOptions,
  ): Promise<TransactionalClaimResult>;
}

/** True when `store` can run a route in transactional mode (it has `claimInTransaction`). */
export function isTransactionalStore(store: Store): store is TransactionalStore {
  return typeof (store as Partial<TransactionalStore>).claimInTransaction === "function";
}

/**
 * Where a record stands for the run a follower reads: `held` while `token` holds it under a live lease, `completed`
 * once that run's outcome is stored, `gone` otherwise (released, taken over, lapsed, expired or deleted).
 */
export type StreamRunState = "held" | "completed" | "gone";

/** What `readStream` found: the entries from the position asked for, and where the run stands. */
export interface StreamRead {
  /** The run's entries from `from` on, in the order they were appended (possibly none). */
  entries: Uint8Array[];
  /** Where the record stands for the token read, judged with the same read as `entries` (see `StreamRunState`). */
  state: StreamRunState;
}

/**
 * A store that records streamed responses as they are written, so that a retry can follow a stream in flight
 * (`stream: true` routes). The entries are opaque bytes to the store (the engine frames them: head, chunks, end);
 * the store keeps them in order per (id, token), so a follower of one run can never read another run's entries.
 */
export interface StreamStore extends Store {
  /**
   * Appends `entries`, in order, after the run's earlier ones; keeps them at least `ttl` ms. True only if `token`
   * still holds a live in-flight claim (the fence: a holder that was taken over appends nothing).
   */
  appendStream(id: string, token: number, entries: Uint8Array[], ttl: number): Promise<boolean>;
  /**
   * The entries of the run `token` holds (or held), from position `from` on, and where the run stands. When there is
   * none past `from` and the run is `held`, waits up to `wait` ms for the next append before answering (a store wakes
   * on the append itself where its backend can, or polls with a growing pause and says so in its docs).
   */
  readStream(id: string, token: number, from: number, wait: number): Promise<StreamRead>;
}

/** True when `store` records streams (it has `appendStream` and `readStream`). */
export function isStreamStore(store: Store): store is StreamStore {
  const candidate = store as Partial<StreamStore>;
  return typeof candidate.appendStream === "function" && typeof candidate.readStream === "function";
}
