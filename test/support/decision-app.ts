import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import express from "express";
import { idempotency } from "../../src/adapters/express/index.js";
import type { ClaimOptions, ClaimResult, Idempotency, IdempotencyOptions } from "../../src/index.js";
import type { RunningServer } from "../http/app-spec.js";
import { FailingCommitStore } from "../http/failing-commit-store.js";
import { listen } from "../http/servers.js";

/** Marks what must never leak into telemetry or logs: every key and every request body contains it. */
export const SECRET = "s3cr3t-do-not-log";

/** A transactional memory store whose claims fail while `failClaims` is set: store-error by fault injection. */
export class FaultyStore extends FailingCommitStore {
  failClaims = false;

  override async claim(id: string, fingerprint: string, options: ClaimOptions): Promise<ClaimResult> {
    if (this.failClaims) throw new Error("connection refused (injected fault)");
    return super.claim(id, fingerprint, options);
  }
}

/** A promise the test opens by hand, to hold a handler mid-flight. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

type Gate = ReturnType<typeof gate>;

export interface DecisionApp extends RunningServer {
  idem: Idempotency;
  store: FaultyStore;
  /** Hold POST /slow and the first run of POST /held until opened. */
  gates: { slow: Gate; held: Gate };
  /** Moves the store's clock, so leases lapse without sleeping. */
  advance(ms: number): void;
}

export const LEASE_MS = 30_000;

/**
 * An Express 5 app over a real socket with one route per decision of the semantics table. `create` builds the
 * engine (plain or instrumented) from the options given; `wrap` lets a test put its own layer in front of the app
 * (a server span, as an HTTP instrumentation would).
 */
export async function startDecisionApp(
  create: (options: IdempotencyOptions) => Idempotency,
  wrap: (
    app: (req: IncomingMessage, res: ServerResponse) => void,
  ) => (req: IncomingMessage, res: ServerResponse) => void = (app) => app,
): Promise<DecisionApp> {
  let clock = Date.now();
  const store = new FaultyStore({ now: () => clock });
  const idem = create({ store, lease: LEASE_MS });
  const gates = { slow: gate(), held: gate() };
  let heldRuns = 0;
  const app = express();
  const charge = (req: express.Request, res: express.Response) => {
    res.status(201).json({ id: `ch_${randomUUID()}`, amount: (req.body as { amount?: number }).amount });
  };
  const guard = (options: Parameters<typeof idempotency>[1] = {}) => [express.json(), idempotency(idem, options)];
  app.post("/charges", ...guard({ route: "POST /charges" }), charge);
  app.post("/required", ...guard({ route: "POST /required", required: true }), charge);
  // Unnamed on purpose: its route is `POST /small`, which metrics must leave out. No body parser before oncely, so
  // oncely reads the body itself and measures it (a parser's own `limit` applies to the bodies it parses).
  app.post("/small", idempotency(idem, { maxRequestBytes: 64 }), (_req, res) => {
    res.status(201).json({ id: `ch_${randomUUID()}` });
  });
  app.post("/limited", ...guard({ route: "POST /limited", rateLimit: { max: 1, window: "1m" } }), charge);
  app.post("/tx", ...guard({ route: "POST /tx", transactional: true }), charge);
  app.post("/throws", ...guard({ route: "POST /throws" }), () => {
    throw new Error(`handler failed ${SECRET}`);
  });
  app.post("/slow", ...guard({ route: "POST /slow" }), async (req, res) => {
    await gates.slow.opened;
    charge(req, res);
  });
  app.post("/held", ...guard({ route: "POST /held" }), async (req, res) => {
    // Only the first run waits: the retry that takes its lapsed claim over answers at once.
    if (++heldRuns === 1) await gates.held.opened;
    charge(req, res);
  });
  app.use(((_error, _req, res, _next) => {
    res.status(500).json({ error: "internal" });
  }) as express.ErrorRequestHandler);
  const server = await listen(createServer(wrap(app)));
  return {
    ...server,
    idem,
    store,
    gates,
    advance: (ms) => {
      clock += ms;
    },
  };
}

/** The keys (and answers) each decision was produced with. */
export interface DrivenDecisions {
  keys: Record<"charge" | "tooLarge" | "limited" | "throws" | "storeError" | "slow" | "held" | "tx", string>;
  statuses: Record<string, number[]>;
}

export const newKey = (label: string) => `${label}-${SECRET}-${randomUUID()}`;

/**
 * Drives the app through every decision, in order: executed, replayed, mismatch (POST /charges), invalid
 * (POST /required without a key), too-large (POST /small), rate-limited (POST /limited, twice), released (POST
 * /throws: the handler threw, so its key is released before Express answers 500), store-error (claims failing),
 * conflict (POST /slow while the first runs), recovered and fenced (POST /held: the first run's lease lapses, a retry
 * takes over and completes, then the first run's late result is fenced out), and a transactional execution (POST /tx).
 */
export async function driveEveryDecision(app: DecisionApp): Promise<DrivenDecisions> {
  const keys = {
    charge: newKey("charge"),
    tooLarge: newKey("too-large"),
    limited: newKey("limited"),
    throws: newKey("throws"),
    storeError: newKey("store-error"),
    slow: newKey("slow"),
    held: newKey("held"),
    tx: newKey("tx"),
  };
  const statuses: Record<string, number[]> = {};
  const post = async (path: string, key: string | undefined, body: unknown = { amount: 100, note: SECRET }) => {
    const response = await fetch(`${app.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(key === undefined ? {} : { "idempotency-key": key }) },
      body: JSON.stringify(body),
    });
    await response.arrayBuffer();
    statuses[path] = [...(statuses[path] ?? []), response.status];
    return response;
  };

  await post("/charges", keys.charge); // executed
  await post("/charges", keys.charge); // replayed
  await post("/charges", keys.charge, { amount: 200, note: SECRET }); // mismatch
  await post("/required", undefined); // invalid
  await post("/small", keys.tooLarge, { amount: 1, note: SECRET.repeat(10) }); // too-large
  await post("/limited", keys.limited); // executed
  await post("/limited", keys.limited); // rate-limited
  await post("/throws", keys.throws); // released
  app.store.failClaims = true;
  await post("/charges", keys.storeError); // store-error
  app.store.failClaims = false;

  const slow = post("/slow", keys.slow); // executed, once the gate opens
  await until(async () => (await app.store.list({ state: "in-flight" })).records.length > 0);
  await post("/slow", keys.slow); // conflict
  app.gates.slow.open();
  await slow;

  const held = post("/held", keys.held); // fenced, once the gate opens
  await until(async () => (await app.store.list({ state: "in-flight" })).records.length > 0);
  app.advance(LEASE_MS + 1);
  await post("/held", keys.held); // recovered, then executed
  app.gates.held.open();
  await held;

  await post("/tx", keys.tx); // executed, in a transaction
  return { keys, statuses };
}

async function until(condition: () => Promise<boolean>, timeout = 5000) {
  const deadline = Date.now() + timeout;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
