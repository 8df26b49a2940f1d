import { createHash } from "node:crypto";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { hashParts } from "../../../src/core/hash.js";
import { createIdempotency, type Idempotency } from "../../../src/index.js";
import type { RouteSpec, RunningServer, SpecResponse } from "../../http/app-spec.js";
import type { Adapter } from "./adapters.js";
import { portOf } from "./adapters.js";
import type { Backend } from "./backends.js";
import {
  DEFAULT_MAX_REQUEST,
  describeCase,
  FUZZ_METHODS,
  FUZZ_ROUTES,
  type FuzzCase,
  GUARDED_METHODS,
  judgeKey,
} from "./cases.js";
import { header, send, sendAborted, type WireRequest, type WireResponse } from "./wire.js";

/** The problem types oncely documents, with the status each is answered with. */
export const PROBLEM_TYPES: Record<string, number> = {
  "urn:oncely:problem:missing-key": 400,
  "urn:oncely:problem:invalid-key": 400,
  "urn:oncely:problem:request-too-large": 413,
  "urn:oncely:problem:in-flight": 409,
  "urn:oncely:problem:fingerprint-mismatch": 422,
  "urn:oncely:problem:response-not-kept": 410,
  "urn:oncely:problem:rate-limited": 429,
};

/** Statuses a framework (its HTTP parser or body parser) may answer before oncely sees the request. */
const FRAMEWORK_STATUSES = new Set([400, 413, 415]);

export type Answer =
  | { kind: "handler"; run: number }
  | { kind: "replay" }
  | { kind: "problem"; type: string }
  | { kind: "framework"; status: number };

/** A property failed: the message says which case, which answer, and why. */
export class Violation extends Error {}

/** Sorts a response into what it may be; anything else (a 5xx, an unknown problem type, a 404) is a violation. */
export function classify(response: WireResponse): Answer {
  const type = header(response, "content-type") ?? "";
  if (header(response, "idempotent-replayed") === "true") return { kind: "replay" };
  if (header(response, "x-handler") === "1" && response.status === 201) {
    return { kind: "handler", run: (JSON.parse(response.body.toString()) as { n: number }).n };
  }
  if (type.startsWith("application/problem+json")) {
    let problem: { type?: string; status?: number };
    try {
      problem = JSON.parse(response.body.toString());
    } catch {
      throw new Violation(`problem+json body does not parse: ${response.body.toString().slice(0, 200)}`);
    }
    const status = PROBLEM_TYPES[problem.type ?? ""];
    if (status === undefined) throw new Violation(`undocumented problem type ${problem.type}`);
    if (status !== response.status || problem.status !== response.status) {
      throw new Violation(`problem ${problem.type} answered ${response.status} (body says ${problem.status})`);
    }
    return { kind: "problem", type: problem.type! };
  }
  if (FRAMEWORK_STATUSES.has(response.status)) return { kind: "framework", status: response.status };
  throw new Violation(
    `unexpected answer ${response.status} ${type}: ${response.body.toString("latin1").slice(0, 300)}`,
  );
}

/** A fuzz app: one adapter and one backend, its handler counting runs. */
export interface FuzzApp {
  adapter: string;
  backend: Backend;
  server: RunningServer;
  port: number;
  idem: Idempotency;
  /** Handler runs so far. */
  runs: number;
  /** Cases so far; each gets its own scope (`x-case`), so keys can repeat across cases without meeting. */
  cases: number;
  /** Records the store should hold: one per guarded first execution with a valid key. */
  expectedRecords: number;
  close(): Promise<void>;
}

export async function startFuzzApp(adapter: Adapter, backend: Backend): Promise<FuzzApp> {
  const idem = createIdempotency({
    store: backend.store,
    scope: (request) => request.headers["x-case"] as string, // every case sends one
  });
  const app: FuzzApp = {
    adapter: adapter.name,
    backend,
    idem,
    runs: 0,
    cases: 0,
    expectedRecords: 0,
    port: 0,
    server: undefined as unknown as RunningServer,
    close: async () => {
      await app.server.close();
      await idem.close();
    },
  };
  const handle = async ({ body }: { body: Uint8Array }): Promise<SpecResponse> => {
    const n = ++app.runs;
    const sha = createHash("sha256").update(body).digest("hex").slice(0, 16);
    return {
      status: 201,
      headers: [
        ["content-type", "application/json"],
        ["x-handler", "1"],
        ["set-cookie", `fz=${n}; HttpOnly`],
      ],
      body: JSON.stringify({ n, len: body.byteLength, sha }),
    };
  };
  const routes: RouteSpec[] = [];
  for (const [path, options] of Object.entries(FUZZ_ROUTES)) {
    for (const method of FUZZ_METHODS) routes.push({ method, path, options: { ...options }, handle });
  }
  app.server = await adapter.start(idem, routes);
  app.port = portOf(app.server);
  return app;
}

/** The storage id of (scope, key): how the engine names a record (a test may know this; users never need to). */
export function recordId(scope: string, key: string): string {
  return hashParts(["oncely:id:v1", scope, key]);
}

function wireRequest(c: FuzzCase, scope: string, body = c.body, contentType = c.contentType): WireRequest {
  const headers: [string, string][] = [["x-case", scope]];
  for (const key of c.keys) headers.push([c.keyName, key]);
  if (contentType !== undefined) headers.push(["content-type", contentType]);
  return { method: c.method, path: `${c.path}${c.query}`, headers, body, chunked: c.chunked };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs one case against the app and checks every property on it. Throws a Violation (or a WireError for a hung or
 * dropped socket) naming the case.
 */
export async function runCase(app: FuzzApp, c: FuzzCase): Promise<void> {
  const scope = `case-${++app.cases}`;
  try {
    await checkCase(app, c, scope);
  } catch (error) {
    throw new Violation(
      `${app.adapter} on ${app.backend.name}, ${scope}: ${(error as Error).message}\n  case: ${describeCase(c)}`,
      { cause: error },
    );
  }
}

async function checkCase(app: FuzzApp, c: FuzzCase, scope: string): Promise<void> {
  const verdict = judgeKey(c.keys);
  const guarded = GUARDED_METHODS.has(c.method);
  const limit = "maxRequestBytes" in FUZZ_ROUTES[c.path] ? 1024 : DEFAULT_MAX_REQUEST;
  // Oversize bodies are bytes whose canonical form is themselves, so they must be refused. Other bodies over the
  // limit may be JSON whose canonical form (whitespace dropped) fits: then either answer is right. JSON nested
  // thousands deep that a framework parsed is refused as too large to fingerprint (src/core/fingerprint.ts), as
  // the same bytes unparsed are not: both answers are right for it too.
  const oversize = c.bodyKind.startsWith("oversize") && c.body.byteLength > limit;
  const mayBeTooLarge = c.body.byteLength > limit || c.bodyKind.startsWith("deep-json");
  const candidates = new Set(c.keys.map((k) => k.trim()));
  if (verdict.kind === "valid") candidates.add(verdict.key);
  const noRecord = async (when: string) => {
    for (const key of candidates) {
      const record = await app.backend.store.get(recordId(scope, key));
      if (record) throw new Violation(`${when}: a ${record.state} record exists for key ${JSON.stringify(key)}`);
    }
  };
  const request = wireRequest(c, scope);

  if (c.abortFirst !== undefined) {
    const before = app.runs;
    await sendAborted(app.port, request, Math.floor(c.body.byteLength * c.abortFirst));
    await sleep(10);
    // Where oncely guards the request it must read the whole body first; elsewhere a handler that never reads the
    // body (Nest's, for a media type it has no parser for) may run before the upload fails, and that is fine.
    if (guarded && verdict.kind === "valid" && app.runs !== before) {
      throw new Violation("the handler ran for an upload the client aborted");
    }
    await noRecord("after an aborted upload");
  }

  const before = app.runs;
  const first = await send(app.port, request);
  const answer = classify(first);
  const ran = app.runs - before;
  if (ran !== (answer.kind === "handler" ? 1 : 0)) {
    throw new Violation(`answered ${JSON.stringify(answer)} but the handler ran ${ran} times`);
  }
  const fail = (why: string) => {
    throw new Violation(`${why}; got ${first.status} ${JSON.stringify(answer)}`);
  };

  if (verdict.kind === "unparseable") {
    if (!(answer.kind === "framework" && answer.status === 400)) fail(`a header with a ${verdict.why} must be a 400`);
    return noRecord("after a request the HTTP parser refused");
  }
  if (!guarded) {
    if (answer.kind !== "handler" && answer.kind !== "framework") fail(`an unguarded ${c.method} passes through`);
    return noRecord(`after an unguarded ${c.method}`);
  }
  if (verdict.kind === "absent") {
    if (c.path === "/required") {
      if (!(answer.kind === "framework" || (answer.kind === "problem" && answer.type.endsWith(":missing-key")))) {
        fail("a required key that is missing is a 400 missing-key");
      }
    } else if (answer.kind !== "handler" && answer.kind !== "framework") {
      fail("a request without a key passes through");
    }
    return;
  }
  if (verdict.kind === "invalid") {
    if (!(answer.kind === "framework" || (answer.kind === "problem" && answer.type.endsWith(":invalid-key")))) {
      fail(`a malformed key (${verdict.why}) is a 400 invalid-key`);
    }
    return noRecord("after a malformed key");
  }
  if (oversize) {
    const tooLarge = answer.kind === "problem" && answer.type.endsWith(":request-too-large");
    // The framework may refuse first (a 413 of its own, or a 415 for a media type it has no parser for).
    if (!(tooLarge || answer.kind === "framework")) {
      fail(`a body of ${c.body.byteLength} bytes over a limit of ${limit} is a 413`);
    }
    return noRecord("after a 413");
  }
  if (answer.kind === "framework") return noRecord(`after the framework's own ${answer.status}`);
  if (mayBeTooLarge && answer.kind === "problem" && answer.type.endsWith(":request-too-large")) {
    return noRecord("after a 413");
  }
  if (answer.kind !== "handler") fail("a first request with a valid key runs the handler");

  const id = recordId(scope, verdict.key);
  app.expectedRecords++;
  const record = await app.backend.store.get(id);
  if (record?.state !== "completed") throw new Violation(`after executing, the record is ${record?.state}`);
  if (!Buffer.from(record.response!.body).equals(first.body))
    throw new Violation("the stored body is not the one sent");
  if (record.response!.headers.some(([name]) => name === "set-cookie")) throw new Violation("Set-Cookie was stored");

  if (c.retry === "same") {
    const retry = await send(app.port, request);
    if (classify(retry).kind !== "replay" || retry.status !== first.status || !retry.body.equals(first.body)) {
      throw new Violation(`the same request again is not a byte-identical replay: ${retry.status} ${retry.body}`);
    }
    if (header(retry, "set-cookie") !== undefined) throw new Violation("a replay carried Set-Cookie");
  } else if (c.retry === "different") {
    const other = wireRequest(c, scope, Buffer.from(JSON.stringify({ other: scope })), "application/json");
    const retry = await send(app.port, { ...other, chunked: false });
    const kind = classify(retry);
    if (!(kind.kind === "problem" && kind.type.endsWith(":fingerprint-mismatch"))) {
      throw new Violation(`the key with another body is not a 422: ${retry.status} ${JSON.stringify(kind)}`);
    }
    const after = await app.backend.store.get(id);
    if (!after?.response || !Buffer.from(after.response.body).equals(first.body)) {
      throw new Violation("a 422 changed the stored record");
    }
  }
  if (app.runs !== before + 1) throw new Violation(`the handler ran ${app.runs - before} times for one key`);
}

/** Checks the store holds exactly the records the cases so far should have left. */
export async function checkRecordCount(app: FuzzApp): Promise<void> {
  const records = await app.backend.records();
  if (records.length !== app.expectedRecords) {
    throw new Violation(
      `${app.adapter} on ${app.backend.name}: the store holds ${records.length} records after ${app.cases} cases; ` +
        `${app.expectedRecords} expected (one per executed guarded request)`,
    );
  }
  const unfinished = records.filter((r) => r.state !== "completed");
  if (unfinished.length > 0) {
    throw new Violation(`${unfinished.length} records are not completed: ${JSON.stringify(unfinished[0]?.meta)}`);
  }
}

setFlagsFromString("--expose-gc");
const collect = runInNewContext("gc") as () => void;

/** Heap in use after a full collection, bytes. */
export function heapAfterGc(): number {
  collect();
  collect();
  return process.memoryUsage().heapUsed;
}
