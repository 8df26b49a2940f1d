import { createIdempotency, type Idempotency, type IdempotencyEvent } from "../../src/index.js";
import type { RouteSpec, SpecRequest, SpecResponse } from "./app-spec.js";
import { FailingCommitStore } from "./failing-commit-store.js";

// The app the HTTP semantics suite drives: its routes, its store and what the suite reads back. It uses only web
// APIs, so the same module runs in Node.js (test/http/semantics.ts) and inside Bun, Deno and workerd
// (test/runtimes/), where a control route serves the probe to the suite over the socket.

/** What the semantics suite reads from, and does to, the app behind the server. Async: it may be in another runtime. */
export interface SemanticsProbe {
  /** How many times the named route's handler has run, or undefined before its first run. */
  runs(name: string): Promise<number | undefined>;
  /** Every event oncely emitted, oldest first (JSON values only when the app runs in another runtime). */
  events(): Promise<IdempotencyEvent[]>;
  /** Lets the handlers held at the gate (the `/slow` and `/wait` routes) finish. */
  openGate(): Promise<void>;
  /** Opens the gate for any handler still held, then closes a new one for the next test. */
  resetGate(): Promise<void>;
  /** Makes the transactional route's commits fail (the claim is undone) or succeed. */
  failCommits(fail: boolean): Promise<void>;
  /** How many claims the store has been asked for (a waiting duplicate's polls are claims too). */
  claims(): Promise<number>;
  /** What each `onReplay` call of the `/replay-hook` route was given, copied as it arrived. */
  replaysSeen(): Promise<ReplaySeen[]>;
  /** Everything the store holds, response bodies as text: what the suite searches for secrets. */
  storedText(): Promise<string>;
  /** Closes the store. */
  close(): Promise<void>;
}

/** A response as an `onReplay` hook was handed it, with the request's `x-note` header. */
export interface ReplaySeen {
  status: number;
  headers: [string, string][];
  body: string;
  note: unknown;
}

/** Which of the suite's routes the integration mounts (see HttpCapabilities). */
export interface SemanticsAppOptions {
  transactional: boolean;
}

export interface SemanticsApp {
  idem: Idempotency;
  routes: RouteSpec[];
  probe: SemanticsProbe;
}

/**
 * A gate opened by hand, to hold a handler mid-flight. Handlers poll it rather than await a promise: workerd never
 * wakes a request on a promise that another request resolves.
 */
function gate() {
  let isOpen = false;
  return {
    open: () => {
      isOpen = true;
    },
    async opened(): Promise<void> {
      while (!isOpen) await new Promise((resolve) => setTimeout(resolve, 5));
    },
  };
}

const text = new TextDecoder();

export const BINARY = new Uint8Array(256).map((_, i) => 255 - i);

/** What `scope` functions return by mistake: each is refused on the request. */
export const INVALID_SCOPES: Record<string, unknown> = {
  undefined: undefined,
  "empty string": "",
  object: { id: 1 },
  boolean: true,
  NaN: Number.NaN,
  Infinity: Number.POSITIVE_INFINITY,
};

/** A new app: a fresh store, engine and routes, and the probe that reads them. */
export function createSemanticsApp(options: SemanticsAppOptions): SemanticsApp {
  const store = new FailingCommitStore();
  const events: IdempotencyEvent[] = [];
  const idem = createIdempotency({ store, onEvent: (event) => events.push(event) });
  const runs = new Map<string, number>();
  let slowGate = gate();
  const count = (name: string) => {
    const n = (runs.get(name) ?? 0) + 1;
    runs.set(name, n);
    return n;
  };
  const json = (status: number, value: unknown, headers: [string, string][] = []): SpecResponse => ({
    status,
    headers: [["content-type", "application/json"], ...headers],
    body: JSON.stringify(value),
  });
  const charge =
    (name: string) =>
    async ({ body, context }: SpecRequest) => {
      const n = count(name);
      return json(201, { id: `ch_${n}`, received: text.decode(body), recovered: context?.recovered ?? null }, [
        ["x-charge-id", `ch_${n}`],
        ["set-cookie", "session=secret; HttpOnly"],
      ]);
    };
  const slow = (name: string) => async () => {
    const n = count(name);
    await slowGate.opened();
    return json(200, { n });
  };

  const replaysSeen: ReplaySeen[] = [];
  const routes: RouteSpec[] = [
    { method: "POST", path: "/charges", handle: charge("charges") },
    { method: "GET", path: "/charges", handle: charge("get") },
    { method: "POST", path: "/other", handle: charge("other") },
    { method: "POST", path: "/required", options: { required: true }, handle: charge("required") },
    {
      method: "POST",
      path: "/repeated-headers",
      handle: async () =>
        json(201, { ok: true }, [
          ["set-cookie", "a=1"],
          ["set-cookie", "b=2"],
          ["link", "</a>; rel=a"],
          ["link", "</b>; rel=b"],
        ]),
    },
    { method: "POST", path: "/small-body", options: { maxRequestBytes: 100 }, handle: charge("small-body") },
    { method: "POST", path: "/limited", options: { rateLimit: { max: 3, window: "1m" } }, handle: charge("limited") },
    // 200 concurrent duplicates are more than the default per-key rate limit (100 per 10 s) lets through.
    { method: "POST", path: "/slow", options: { rateLimit: false }, handle: slow("slow") },
    {
      method: "POST",
      path: "/wait",
      options: { onInFlight: "wait", waitTimeout: "5s", rateLimit: false },
      handle: slow("wait"),
    },
    {
      method: "POST",
      path: "/throws",
      handle: async () => {
        count("throws");
        throw new Error("boom");
      },
    },
    {
      method: "POST",
      path: "/unavailable",
      handle: async () => json(503, { n: count("unavailable") }),
    },
    {
      method: "POST",
      path: "/empty",
      handle: async () => {
        count("empty");
        return { status: 204, headers: [], body: "" };
      },
    },
    {
      method: "POST",
      path: "/binary",
      handle: async () => {
        count("binary");
        return { status: 200, headers: [["content-type", "application/octet-stream"]], body: BINARY };
      },
    },
    {
      method: "POST",
      path: "/big",
      options: { maxResponseBytes: 1024 },
      handle: async () => {
        count("big");
        return { status: 200, headers: [["content-type", "text/plain"]], body: "x".repeat(4096) };
      },
    },
    {
      method: "POST",
      path: "/skip",
      handle: async ({ context }) => {
        context?.skipStore();
        return json(200, { n: count("skip") });
      },
    },
    {
      method: "POST",
      path: "/replay-hook",
      options: {
        onReplay: ({ response, request }) => {
          replaysSeen.push({
            status: response.status,
            headers: response.headers.map(([name, value]) => [name, value]),
            body: text.decode(response.body),
            note: request.headers["x-note"],
          });
          const stored = JSON.parse(text.decode(response.body));
          // Changes made in place, to the copy the hook is given: none of them may reach what is stored.
          response.headers.push(["x-note", String(request.headers["x-note"])]);
          response.body.fill(0x20);
          return {
            ...response,
            status: 200,
            body: new TextEncoder().encode(JSON.stringify({ ...stored, fresh: true })),
          };
        },
      },
      handle: charge("replay-hook"),
    },
    {
      method: "POST",
      path: "/expiring",
      options: { expiryHeader: true, ttl: "1h" },
      handle: charge("expiring"),
    },
    // Mounted only where transactional routes exist (see HttpCapabilities): elsewhere the option is refused.
    ...(options.transactional
      ? [{ method: "POST", path: "/tx", options: { transactional: true }, handle: charge("tx") } as const]
      : []),
    {
      method: "POST",
      path: "/scoped",
      options: { scope: (req) => req.headers["x-account"] as string },
      handle: charge("scoped"),
    },
    {
      method: "POST",
      path: "/named-headers",
      // Header names as people write them: matched whatever their case.
      options: { fingerprintHeaders: ["X-Account"], excludeHeaders: ["X-Charge-Id"] },
      handle: charge("named-headers"),
    },
    {
      method: "POST",
      path: "/scoped-by-number",
      // "n:42" scopes by the number 42, "42" by the string: the same scope.
      options: {
        scope: (req) => {
          const account = req.headers["x-account"] as string;
          return account.startsWith("n:") ? Number(account.slice(2)) : account;
        },
      },
      handle: charge("scoped-by-number"),
    },
    {
      method: "POST",
      path: "/scope-invalid",
      options: { scope: (req) => INVALID_SCOPES[req.headers["x-scope"] as string] as string },
      handle: charge("scope-invalid"),
    },
  ];

  const probe: SemanticsProbe = {
    runs: async (name) => runs.get(name),
    events: async () => events,
    openGate: async () => slowGate.open(),
    claims: async () => store.claims,
    replaysSeen: async () => replaysSeen,
    resetGate: async () => {
      slowGate.open();
      slowGate = gate();
    },
    failCommits: async (fail) => {
      store.failCommits = fail;
    },
    storedText: async () => {
      const { records } = await store.list({ limit: 1000 });
      return JSON.stringify(records.map((r) => ({ ...r, body: text.decode(r.response?.body ?? new Uint8Array()) })));
    },
    close: () => store.close(),
  };
  return { idem, routes, probe };
}
