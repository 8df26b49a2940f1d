/**
 * What a handler sees of oncely while it runs (Express `req.idempotency`, Hono `c.get("idempotency")`, Fastify
 * `request.idempotency`, the second argument of a fetch handler).
 */
export interface IdempotencyContext {
  /** The client's Idempotency-Key. */
  readonly key: string;
  /** A short hash of the request's scope, when a scope is configured. */
  readonly scope?: string;
  /** True when this run took over a claim whose holder died (its lease lapsed): earlier work may be half done. */
  readonly recovered: boolean;
  /** The claim's fencing token. */
  readonly token: number;
  /** Aborts if another request takes the claim over (this run's result would then not be stored). */
  readonly signal: AbortSignal;
  /** Answer this request without storing its response; the key is released and a retry runs the handler again. */
  skipStore(): void;
  /**
   * A deterministic key for a downstream call, from (scope, key, label): the same on every retry of this request.
   * @example await psp.charges.create(args, { idempotencyKey: req.idempotency.deriveKey("charge") });
   */
  deriveKey(label: string): string;
  /**
   * On a `transactional` route, the client of the transaction that holds the claim: write through it and the writes
   * commit together with the stored response, or not at all. Absent on other routes.
   * @example await req.idempotency.transaction.query("INSERT INTO charges (amount) VALUES ($1)", [amount]);
   */
  readonly transaction?: TransactionClient;
  /**
   * Runs a part of the work once per run and records its result, so a retry after a crash resumes at the first step
   * not yet recorded instead of doing the work again (see docs/steps.md).
   * @example const charge = await req.idempotency.step("charge", (s) => psp.charge(args, { idempotencyKey: s.key }));
   */
  readonly step: Step;
}

/**
 * The transaction clients of the stores that have a transactional mode, keyed by store name. A store's module adds
 * its own (importing `oncely/stores/postgres` adds pg's `PoolClient`), which types `context.transaction`.
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled in by declaration merging from the stores' modules.
export interface TransactionClients {}

/** The client `context.transaction` holds: one of `TransactionClients`. */
export type TransactionClient = [keyof TransactionClients] extends [never]
  ? unknown
  : TransactionClients[keyof TransactionClients];

/** What a step's function is given. */
export interface StepInfo {
  /** The step's name. */
  readonly name: string;
  /**
   * A key for the step's downstream call (a payment provider's Idempotency-Key, an email's Message-ID): derived from
   * the run and the step name, the same on every retry and after a takeover, never the caller's own key.
   */
  readonly key: string;
  /** Aborts when this run loses its claim: the step's result could then not be recorded. */
  readonly signal: AbortSignal;
  /** True when an earlier attempt started this step and may have done its effect before it died. */
  readonly resumed: boolean;
}

/**
 * Runs `fn` once per (run, name) and records its JSON result; on a retry of the run a recorded step returns its
 * result without running. The result is always the JSON copy, on the first run as on retries.
 */
export interface Step {
  <T>(name: string, fn: (step: StepInfo) => T | Promise<T>): Promise<T>;
  /**
   * Runs `fn` inside a transaction of the store's own database and records the step in that same transaction:
   * its writes and its checkpoint commit together or not at all (PostgreSQL store).
   * @example await step.local("reserve", (tx) => tx.query("UPDATE stock SET held = held + 1 WHERE sku = $1", [sku]));
   */
  local<T>(name: string, fn: (transaction: TransactionClient, step: StepInfo) => T | Promise<T>): Promise<T>;
}
