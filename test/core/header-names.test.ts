import { describe, expect, it } from "vitest";
import { createIdempotency, defaultFingerprint, type IdempotencyRequest, MemoryStore } from "../../src/index.js";

// Node.js, fetch's Headers and every adapter present request header names in lower case; the names a user gives in
// options are matched against them whatever their case.
const request = (headers: Record<string, string>): IdempotencyRequest => ({
  method: "POST",
  path: "/charges",
  query: "",
  headers,
  body: undefined,
  raw: undefined,
});

describe("header names in options", () => {
  it("reads the key from `header` spelt in any case", async () => {
    const idem = createIdempotency({ store: new MemoryStore(), header: "X-Request-Key", required: true });
    const decision = await idem.route().begin(request({ "x-request-key": "k-1" }));
    expect(decision.action).toBe("execute");
    if (decision.action === "execute") expect(decision.context.key).toBe("k-1");
    const missing = await idem.route().begin(request({ "idempotency-key": "k-1" }));
    expect(missing.action === "respond" && missing.response.status).toBe(400);
  });

  it("fingerprints `fingerprintHeaders` and leaves out `excludeHeaders` spelt in any case", async () => {
    const idem = createIdempotency({
      store: new MemoryStore(),
      fingerprintHeaders: ["Stripe-Account"],
      excludeHeaders: ["X-Trace-ID"],
    });
    expect(idem.options.fingerprintHeaders).toEqual(["stripe-account"]);
    const a = defaultFingerprint(request({ "stripe-account": "acct_1" }), idem.options.fingerprintHeaders);
    const b = defaultFingerprint(request({ "stripe-account": "acct_2" }), idem.options.fingerprintHeaders);
    expect(a).not.toBe(b);
    const decision = await idem.route().begin(request({ "idempotency-key": "k-2", "stripe-account": "acct_1" }));
    if (decision.action !== "execute") throw new Error(`expected to execute, got ${decision.action}`);
    await decision.finish({
      status: 201,
      headers: [
        ["x-trace-id", "t-1"],
        ["x-kept", "yes"],
      ],
      body: new Uint8Array(),
    });
    const replay = await idem.route().begin(request({ "idempotency-key": "k-2", "stripe-account": "acct_1" }));
    if (replay.action !== "respond") throw new Error(`expected a replay, got ${replay.action}`);
    expect(replay.response.headers.map(([name]) => name)).toEqual(["x-kept", "idempotent-replayed"]);
  });

  it("refuses header lists that are not lists of names, naming the option", () => {
    for (const name of ["fingerprintHeaders", "excludeHeaders"]) {
      for (const value of ["stripe-account", [""], [42]]) {
        expect(() => createIdempotency({ store: new MemoryStore(), [name]: value }), `${name} ${value}`).toThrow(
          new RegExp(`Expected \`${name}\` to be a list of header names`),
        );
      }
    }
  });
});
