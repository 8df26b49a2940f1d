import { afterEach, describe, expect, it, vi } from "vitest";
import { createCauseLog } from "../../src/core/cause-log.js";
import { problemResponse } from "../../src/core/response.js";
import {
  CheckFailedError,
  createIdempotency,
  DecryptionError,
  type IdempotencyEvent,
  MemoryStore,
  type OncelyError,
  RecordTooLargeError,
  StoreError,
  StoreTimeoutError,
} from "../../src/index.js";
import { createTelemetry } from "../../src/otel/index.js";
import { until } from "../support/until.js";

const storeDown = (): IdempotencyEvent => ({
  type: "store-error",
  route: "POST /charges",
  duration: 1,
  reason: "claim failed",
  error: new StoreError("redis", "claim", "failed: connect ECONNREFUSED 127.0.0.1:6379"),
});

describe("cause log", () => {
  it("writes a cause once, then the count of its repeats when the window ends", async () => {
    const lines: [string, string][] = [];
    const log = createCauseLog({ warn: (l) => lines.push(["warn", l]), error: (l) => lines.push(["error", l]) }, 50);
    for (let i = 0; i < 5; i++) log.write(storeDown());
    expect(lines).toEqual([["error", "[oncely] [redis] claim failed: connect ECONNREFUSED 127.0.0.1:6379"]]);
    await until(() => lines.length === 2);
    expect(lines[1]).toEqual([
      "error",
      "[oncely] [redis] claim failed: connect ECONNREFUSED 127.0.0.1:6379 (4 more times in the last 0.05 s)",
    ]);
    log.write(storeDown());
    log.close();
    expect(lines[2]?.[1]).toMatch(/\(once more before close\)$/);
  });

  it("writes warnings (fenced) as warnings and leaves routine decisions out", () => {
    const lines: [string, string][] = [];
    const log = createCauseLog({ warn: (l) => lines.push(["warn", l]), error: (l) => lines.push(["error", l]) });
    log.write({ type: "executed", route: "POST /charges", duration: 1, status: 201 });
    log.write({ type: "replayed", route: "POST /charges", duration: 1, status: 201 });
    log.write({ type: "fenced", route: "POST /charges", duration: 1, reason: "the claim was taken over" });
    log.close();
    expect(lines).toEqual([["warn", "[oncely] fenced on POST /charges: the claim was taken over"]]);
  });

  it("a logger that throws does not fail the request it logs", () => {
    const log = createCauseLog({
      warn: () => {},
      error: () => {
        throw new Error("log sink down");
      },
    });
    expect(() => log.write(storeDown())).not.toThrow();
    log.close();
  });
});

describe("the logger option", () => {
  it("accepts console, a pino-like object and false; refuses anything else, naming the option", () => {
    const store = new MemoryStore();
    expect(() => createIdempotency({ store, logger: console })).not.toThrow();
    expect(() => createIdempotency({ store, logger: { warn() {}, error() {} } })).not.toThrow();
    expect(() => createIdempotency({ store, logger: false })).not.toThrow();
    for (const logger of [true, "console", { warn() {} }, { error() {}, warn: "x" }, () => {}, null]) {
      expect(() => createIdempotency({ store, logger: logger as never })).toThrow(
        new TypeError(
          "Expected `logger` to be an object with `warn` and `error` methods (console, a pino logger) or false",
        ),
      );
    }
    expect(() => createIdempotency({ store, loger: console } as never)).toThrow(/did you mean `logger`/);
  });
});

describe("the default log", () => {
  afterEach(() => vi.restoreAllMocks());
  const throwingScope = () => {
    throw new Error("no tenant");
  };
  const check = (idem: { route(): { begin(input: never): Promise<unknown> } }) =>
    idem
      .route()
      .begin({ method: "POST", path: "/charges", query: "", headers: { "idempotency-key": "k" }, raw: {} } as never);

  it("is console, also on an engine oncely/otel instruments (whose own listener is no onEvent of yours)", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    await check(createIdempotency({ store: new MemoryStore(), scope: throwingScope }));
    await check(createTelemetry().createIdempotency({ store: new MemoryStore(), scope: throwingScope }));
    expect(errors.mock.calls.map((call) => call[0])).toEqual([
      "[oncely] check-failed on POST /charges: a scope or fingerprint function threw, or the request body could not be read: Error: no tenant",
      "[oncely] check-failed on POST /charges: a scope or fingerprint function threw, or the request body could not be read: Error: no tenant",
    ]);
  });

  it("is off on an instrumented engine given your onEvent", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const events: string[] = [];
    const idem = createTelemetry().createIdempotency({
      store: new MemoryStore(),
      scope: throwingScope,
      onEvent: (event) => events.push(event.type),
    });
    await check(idem);
    expect(events).toEqual(["check-failed"]);
    expect(errors).not.toHaveBeenCalled();
  });
});

describe("problem details", () => {
  const internals = 'connect ECONNREFUSED 10.1.2.3:6379 (npm install mysql2) "key-7"\n    at Socket.<anonymous>';
  const cause = new Error(internals);
  const serverSide: OncelyError[] = [
    new StoreError("redis", "claim", `failed: ${internals}`, { cause }),
    new StoreTimeoutError("redis", "claim", `timed out: ${internals}`),
    new RecordTooLargeError("dynamodb", "complete", internals),
    new DecryptionError(internals),
    new CheckFailedError(internals, { cause }),
  ];
  for (const error of serverSide) {
    it(`${error.name}: the problem body carries a fixed detail, nothing of the cause`, () => {
      const body = new TextDecoder().decode(problemResponse(error, "/charges").body);
      for (const piece of ["ECONNREFUSED", "10.1.2.3", "6379", "npm install", "mysql2", "key-7", "    at "]) {
        expect(body).not.toContain(piece);
      }
      expect((JSON.parse(body) as { detail: string }).detail).toBe(error.detail);
    });
  }

  it("a store problem's detail says when to retry, as Retry-After does", () => {
    const error = new StoreError("redis", "claim", "failed", { retryAfter: 2.5 });
    expect(error.detail).toBe("The idempotency store is unavailable; retry after 3 seconds.");
    expect(problemResponse(error).headers).toContainEqual(["retry-after", "3"]);
  });
});
