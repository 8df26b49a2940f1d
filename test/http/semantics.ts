import { request as httpRequest } from "node:http";
import { connect } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { until } from "../support/until.js";
import type { HttpCapabilities, RunningServer, StartServer } from "./app-spec.js";
import { BINARY, createSemanticsApp, INVALID_SCOPES, type SemanticsProbe } from "./semantics-app.js";

/**
 * The HTTP semantics of the README's table "What happens to a request", one test per row, over real sockets. Every
 * adapter runs this module: `start` mounts the suite's routes (test/http/semantics-app.ts) in the adapter's idiom.
 */
export function describeHttpSemantics(adapter: string, start: StartServer, capabilities: HttpCapabilities = {}) {
  const transactional = capabilities.transactional ?? true;
  describeRemoteHttpSemantics(
    adapter,
    async () => {
      const app = createSemanticsApp({ transactional });
      const server = await start(app.idem, app.routes);
      return { url: server.url, probe: app.probe, close: server.close };
    },
    capabilities,
  );
}

/** A server the suite drives, with the probe into the app behind it. */
export interface ProbedServer extends RunningServer {
  probe: SemanticsProbe;
}

/**
 * The same suite against a server that runs the semantics app wherever `launch` puts it (another runtime: Bun, Deno,
 * workerd), read through `probe`.
 */
export function describeRemoteHttpSemantics(
  adapter: string,
  launch: () => Promise<ProbedServer>,
  capabilities: HttpCapabilities = {},
) {
  const can = { handlerContext: true, transactional: true, bodyBytes: true, ...capabilities };
  // A case needing a capability the adapter lacks is not registered; the suite's title names what it leaves out.
  const without = Object.entries(can).flatMap(([name, has]) => (has ? [] : [name]));
  const title = `HTTP semantics: ${adapter}${without.length ? ` (without ${without.join(", ")})` : ""}`;
  describe(title, () => {
    let server: ProbedServer;
    let app: SemanticsProbe;

    beforeAll(async () => {
      server = await launch();
      app = server.probe;
    });
    afterAll(async () => {
      await app?.openGate();
      await app?.close();
      await server?.close();
    });
    afterEach(async () => {
      await app.resetGate();
    });
    const runs = (name: string) => app.runs(name);
    const lastEvent = async (key: string) => (await app.events()).findLast((e) => e.key === key);

    let keyCounter = 0;
    const newKey = () => `${adapter.replace(/\W/g, "")}-${Date.now()}-${++keyCounter}`;
    const post = (
      path: string,
      key: string | undefined,
      body: unknown = { amount: 100 },
      headers: Record<string, string> = {},
    ) =>
      fetch(`${server.url}${path}`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(key === undefined ? {} : { "idempotency-key": key }),
          ...headers,
        },
        body: typeof body === "string" || body instanceof Uint8Array ? (body as BodyInit) : JSON.stringify(body),
      });
    const problem = async (response: Response) => {
      expect(response.headers.get("content-type")).toBe("application/problem+json");
      return (await response.json()) as { type: string; status: number; code: string; detail: string };
    };

    it("runs the handler once and stores the response", async () => {
      const key = newKey();
      const before = (await runs("charges")) ?? 0;
      const first = await post("/charges", key);
      expect(first.status).toBe(201);
      expect(first.headers.get("idempotent-replayed")).toBeNull();
      expect(first.headers.get("set-cookie")).toBe("session=secret; HttpOnly");
      expect(await runs("charges")).toBe(before + 1);
      const event = await lastEvent(key);
      expect(event).toMatchObject({ type: "executed", status: 201, route: "POST /charges" });
    });

    it("replays status, stored headers and body byte for byte, marked Idempotent-Replayed", async () => {
      const key = newKey();
      const first = await post("/charges", key);
      const firstBody = await first.text();
      const before = await runs("charges");
      const retry = await post("/charges", key);
      expect(retry.status).toBe(201);
      expect(await retry.text()).toBe(firstBody);
      expect(retry.headers.get("idempotent-replayed")).toBe("true");
      expect(retry.headers.get("x-charge-id")).toBe(first.headers.get("x-charge-id"));
      expect(retry.headers.get("content-type")).toBe("application/json");
      expect(retry.headers.get("set-cookie")).toBeNull();
      expect(await runs("charges")).toBe(before);
      expect(await lastEvent(key)).toMatchObject({ type: "replayed", status: 201 });
    });

    it("keeps a repeated response header, on the first answer and on replays", async () => {
      const key = newKey();
      const first = await post("/repeated-headers", key);
      expect(first.status).toBe(201);
      expect(first.headers.getSetCookie()).toEqual(["a=1", "b=2"]);
      expect(first.headers.get("link")).toBe("</a>; rel=a, </b>; rel=b");
      const retry = await post("/repeated-headers", key);
      expect(retry.headers.get("idempotent-replayed")).toBe("true");
      expect(retry.headers.get("link")).toBe("</a>; rel=a, </b>; rel=b");
      expect(retry.headers.get("set-cookie")).toBeNull();
    });

    it("ignores JSON key order and whitespace, and query parameter order", async () => {
      const key = newKey();
      await post("/charges?a=1&b=2", key, '{"amount":100,"currency":"eur"}');
      const retry = await post("/charges?b=2&a=1", key, '{ "currency": "eur",\n  "amount": 100 }');
      expect(retry.headers.get("idempotent-replayed")).toBe("true");
    });

    it("answers 422 when the key is reused with another body, path, query or method, and overwrites nothing", async () => {
      const key = newKey();
      const first = await post("/charges", key, { amount: 100 });
      const firstBody = await first.text();
      const before = await runs("charges");
      for (const [path, body] of [
        ["/charges", { amount: 200 }],
        ["/other", { amount: 100 }],
        ["/charges?x=1", { amount: 100 }],
      ] as const) {
        const reused = await post(path, key, body);
        expect(reused.status).toBe(422);
        expect((await problem(reused)).type).toBe("urn:oncely:problem:fingerprint-mismatch");
      }
      const patched = await fetch(`${server.url}/charges`, {
        method: "PATCH",
        headers: { "content-type": "application/json", "idempotency-key": key },
        body: JSON.stringify({ amount: 100 }),
      });
      expect([404, 405, 422]).toContain(patched.status);
      expect(await runs("charges")).toBe(before);
      const retry = await post("/charges", key, { amount: 100 });
      expect(await retry.text()).toBe(firstBody);
      expect((await app.events()).some((e) => e.key === key && e.type === "mismatch")).toBe(true);
    });

    it("answers 422 when the key is reused with a body that some parser reads differently", async () => {
      const before = (await runs("charges")) ?? 0;
      let accepted = 0;
      for (const [name, first, second, parsedAlike] of PARSER_SENSITIVE_BODIES) {
        const key = newKey();
        const answer = await post("/charges", key, first);
        if (answer.status === 400 && !can.bodyBytes) {
          // The framework's parser refused it (Fastify 4 refuses invalid UTF-8) before oncely ran: nothing to merge.
          expect(answer.headers.get("content-type"), name).not.toBe("application/problem+json");
          continue;
        }
        expect(answer.status, name).toBe(201);
        accepted++;
        const reused = await post("/charges", key, second);
        if (can.bodyBytes || !parsedAlike) {
          expect(reused.status, name).toBe(422);
        } else {
          // Only the parsed value reached oncely, and the handler reads that same value: the merge is safe for it.
          expect(reused.headers.get("idempotent-replayed"), name).toBe("true");
        }
      }
      expect(await runs("charges")).toBe(before + accepted);
    });

    it("answers 422 when the key is reused with a query that is not percent-encoded UTF-8", async () => {
      const key = newKey();
      expect((await post("/charges?a=%FF", key)).status).toBe(201);
      expect((await post("/charges?a=%FE", key)).status).toBe(422);
      expect((await post("/charges?a=%EF%BF%BD", key)).status).toBe(422);
      expect((await post("/charges?a=%FF", key)).headers.get("idempotent-replayed")).toBe("true");
    });

    it("passes unguarded methods and requests without a key straight through", async () => {
      const before = (await runs("get")) ?? 0;
      await fetch(`${server.url}/charges`, { headers: { "idempotency-key": "same" } });
      await fetch(`${server.url}/charges`, { headers: { "idempotency-key": "same" } });
      expect(await runs("get")).toBe(before + 2);
      const chargesBefore = (await runs("charges")) ?? 0;
      await post("/charges", undefined);
      await post("/charges", undefined);
      expect(await runs("charges")).toBe(chargesBefore + 2);
    });

    it("answers 400 when a route requires a key and none is sent", async () => {
      const response = await post("/required", undefined);
      expect(response.status).toBe(400);
      expect((await problem(response)).type).toBe("urn:oncely:problem:missing-key");
      expect(await runs("required")).toBeUndefined();
    });

    it("accepts real clients' keys: UUIDs, stripe-node-retry-<uuid>, and RFC 9651 sf-strings", async () => {
      const uuid = crypto.randomUUID();
      expect((await post("/charges", uuid)).status).toBe(201);
      expect((await post("/charges", `stripe-node-retry-${uuid}`)).status).toBe(201);
      const quoted = await post("/charges", `"${uuid}"`);
      expect(quoted.headers.get("idempotent-replayed")).toBe("true");
    });

    it("answers 400 for malformed keys and never runs the handler", async () => {
      const before = (await runs("charges")) ?? 0;
      const bad: (string | string[])[] = [
        "",
        "x".repeat(256),
        "has space",
        "tab\tinside",
        "caf\xe9",
        '"unterminated',
        ["a", "b"],
      ];
      for (const key of bad) {
        const response = await rawPost(server.url, "/charges", key);
        expect(response.status, JSON.stringify(key)).toBe(400);
        expect(JSON.parse(response.body).type).toBe("urn:oncely:problem:invalid-key");
      }
      expect((await runs("charges")) ?? 0).toBe(before);
      const repeated = newKey();
      expect((await rawPost(server.url, "/charges", [repeated, repeated])).status).toBe(201);
    });

    it("answers 413 for a body over maxRequestBytes and claims nothing", async () => {
      const key = newKey();
      const tooBig = await post("/small-body", key, { blob: "x".repeat(500) });
      expect(tooBig.status).toBe(413);
      expect((await problem(tooBig)).type).toBe("urn:oncely:problem:request-too-large");
      const small = await post("/small-body", key, { a: 1 });
      expect(small.status).toBe(201);
      expect(small.headers.get("idempotent-replayed")).toBeNull();
    });

    it("answers 413 for a chunked body (no Content-Length) over maxRequestBytes", async () => {
      const key = newKey();
      const runsOfSmallBody = (await runs("small-body")) ?? 0;
      const chunks = [`{"blob":"${"x".repeat(300)}`, `${"y".repeat(300)}"}`];
      const tooBig = await rawChunkedPost(server.url, "/small-body", key, chunks);
      expect(tooBig.status).toBe(413);
      expect(tooBig.headers.get("content-type")).toBe("application/problem+json");
      expect(JSON.parse(tooBig.body).type).toBe("urn:oncely:problem:request-too-large");
      expect((await runs("small-body")) ?? 0).toBe(runsOfSmallBody);
    });

    it("releases the key when the handler throws: a retry runs it again", async () => {
      const key = newKey();
      expect((await post("/throws", key)).status).toBe(500);
      expect((await post("/throws", key)).status).toBe(500);
      expect(await runs("throws")).toBe(2);
      expect((await app.events()).filter((e) => e.key === key && e.type === "released")).toHaveLength(2);
    });

    it("does not store a 5xx: a retry runs the handler again", async () => {
      const key = newKey();
      const before = (await runs("unavailable")) ?? 0;
      expect((await post("/unavailable", key)).status).toBe(503);
      const retry = await post("/unavailable", key);
      expect(retry.status).toBe(503);
      expect(retry.headers.get("idempotent-replayed")).toBeNull();
      expect(await runs("unavailable")).toBe(before + 2);
    });

    it("replays a 204 as a 204 with no body", async () => {
      const key = newKey();
      expect((await post("/empty", key)).status).toBe(204);
      const retry = await post("/empty", key);
      expect(retry.status).toBe(204);
      expect(retry.headers.get("idempotent-replayed")).toBe("true");
      expect((await retry.arrayBuffer()).byteLength).toBe(0);
      expect(await runs("empty")).toBe(1);
    });

    it("replays binary bodies byte for byte", async () => {
      const key = newKey();
      const first = new Uint8Array(await (await post("/binary", key)).arrayBuffer());
      const retry = await post("/binary", key);
      expect(retry.headers.get("content-type")).toBe("application/octet-stream");
      const replayed = new Uint8Array(await retry.arrayBuffer());
      expect(Buffer.from(replayed).equals(Buffer.from(BINARY))).toBe(true);
      expect(Buffer.from(first).equals(Buffer.from(BINARY))).toBe(true);
    });

    it("delivers a response over maxResponseBytes, then answers retries 410 without running again", async () => {
      const key = newKey();
      const first = await post("/big", key);
      expect(first.status).toBe(200);
      expect((await first.text()).length).toBe(4096);
      const retry = await post("/big", key);
      expect(retry.status).toBe(410);
      expect((await problem(retry)).type).toBe("urn:oncely:problem:response-not-kept");
      expect(await runs("big")).toBe(1);
    });

    it("answers 409 with Retry-After while the first request runs, then replays it", async () => {
      const key = newKey();
      const first = post("/slow", key);
      await until(async () => ((await runs("slow")) ?? 0) >= 1);
      const second = await post("/slow", key);
      expect(second.status).toBe(409);
      expect(second.headers.get("retry-after")).toBe("1");
      expect((await problem(second)).type).toBe("urn:oncely:problem:in-flight");
      await app.openGate();
      const firstResponse = await first;
      const firstBody = await firstResponse.text();
      const third = await post("/slow", key);
      expect(third.headers.get("idempotent-replayed")).toBe("true");
      expect(await third.text()).toBe(firstBody);
    });

    it("never stores its own 409 or 422: after them the legitimate retry still replays the first result", async () => {
      const key = newKey();
      const before = (await runs("slow")) ?? 0;
      const first = post("/slow", key);
      await until(async () => (await runs("slow")) === before + 1);
      expect((await post("/slow", key)).status).toBe(409);
      expect((await post("/slow", key, { amount: 999 })).status).toBe(422);
      await app.openGate();
      const firstBody = await (await first).text();
      const retry = await post("/slow", key);
      expect(retry.status).toBe(200);
      expect(retry.headers.get("idempotent-replayed")).toBe("true");
      expect(await retry.text()).toBe(firstBody);
      expect(await runs("slow")).toBe(before + 1);
    });

    it("with onInFlight: wait, 200 concurrent duplicates run the handler once and all get the same answer", async () => {
      const key = newKey();
      const before = (await runs("wait")) ?? 0;
      const pending = Array.from({ length: 200 }, () => post("/wait", key));
      const claimsBefore = await app.claims();
      await until(async () => ((await runs("wait")) ?? 0) > before);
      // Duplicates are waiting on the running first one (each waiter's polls are claims too) before it finishes.
      await until(async () => (await app.claims()) - claimsBefore >= 200, "200 claims", 15_000);
      await app.openGate();
      const responses = await Promise.all(pending);
      const bodies = await Promise.all(responses.map((r) => r.text()));
      expect(await runs("wait")).toBe(before + 1);
      expect(responses.every((r) => r.status === 200)).toBe(true);
      expect(new Set(bodies).size).toBe(1);
      expect(responses.filter((r) => r.headers.get("idempotent-replayed") === "true")).toHaveLength(199);
    });

    it("with onInFlight: reject, 200 concurrent duplicates run the handler once; the others get 409", async () => {
      const key = newKey();
      const before = (await runs("slow")) ?? 0;
      let rejected = 0;
      const pending = Array.from({ length: 200 }, () =>
        post("/slow", key).then((response) => {
          if (response.status === 409) rejected++;
          return response;
        }),
      );
      // The 409s all arrive while the first request is held: the gate opens only after them.
      await until(() => rejected === 199, "199 answers 409", 15_000);
      expect(await runs("slow")).toBe(before + 1);
      await app.openGate();
      const statuses = (await Promise.all(pending)).map((response) => response.status);
      expect(statuses.filter((status) => status === 409)).toHaveLength(199);
      expect(statuses.filter((status) => status === 200)).toHaveLength(1);
    });

    if (can.handlerContext) {
      it("releases the key when the handler calls skipStore()", async () => {
        const key = newKey();
        await post("/skip", key);
        const retry = await post("/skip", key);
        expect(retry.headers.get("idempotent-replayed")).toBeNull();
        expect(await runs("skip")).toBe(2);
      });
    }

    if (can.transactional) {
      it("sends 503 instead of the handler's answer when a transactional outcome is undone, and the retry runs", async () => {
        const key = newKey();
        await app.failCommits(true);
        const failed = await post("/tx", key);
        expect(failed.status).toBe(503);
        expect(failed.headers.get("content-type")).toBe("application/problem+json");
        expect(failed.headers.get("retry-after")).toBe("1");
        expect(failed.headers.get("x-charge-id")).toBeNull();
        expect((await failed.json()).type).toBe("urn:oncely:problem:store-unavailable");
        await app.failCommits(false);
        const retried = await post("/tx", key);
        expect(retried.status).toBe(201);
        const replay = await post("/tx", key);
        expect(replay.headers.get("idempotent-replayed")).toBe("true");
        expect(await replay.json()).toEqual(await retried.json());
        expect(await runs("tx")).toBe(2);
      });
    }

    it("lets onReplay adjust a replay for that answer only: the next replay starts from the stored original", async () => {
      const key = newKey();
      const first = await post("/replay-hook", key);
      const firstBody = await first.text();
      expect(first.status).toBe(201);
      const replays = [];
      for (const note of ["one", "two"]) {
        const replay = await post("/replay-hook", key, undefined, { "x-note": note });
        replays.push({ status: replay.status, note: replay.headers.get("x-note"), body: await replay.text() });
        expect(replay.headers.get("idempotent-replayed")).toBe("true");
      }
      expect(replays.map(({ status, note }) => [status, note])).toEqual([
        [200, "one"],
        [200, "two"],
      ]);
      expect(JSON.parse(replays[1]!.body)).toEqual({ ...JSON.parse(firstBody), fresh: true });
      const seen = (await app.replaysSeen()).slice(-2);
      expect(seen.map(({ note }) => note)).toEqual(["one", "two"]);
      for (const replay of seen) {
        expect(replay.status).toBe(201);
        expect(replay.body).toBe(firstBody);
        expect(replay.headers.map(([name]) => name)).not.toContain("x-note");
        expect(replay.headers).toContainEqual(["x-charge-id", "ch_1"]);
      }
      expect(await runs("replay-hook")).toBe(1);
    });

    it("with expiryHeader, tells the client until when its key is kept, first and on replays, never storing it", async () => {
      const key = newKey();
      const before = Date.now();
      const first = await post("/expiring", key);
      const kept = Date.parse(first.headers.get("idempotency-key-expires") ?? "");
      // An HTTP-date has whole seconds: at least until an hour from the claim.
      expect(kept).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 3_600_000);
      expect(kept).toBeLessThanOrEqual(Date.now() + 3_600_000);
      const replays = [await post("/expiring", key), await post("/expiring", key)];
      const values = replays.map((replay) => replay.headers.get("idempotency-key-expires"));
      expect(replays.map((replay) => replay.headers.get("idempotent-replayed"))).toEqual(["true", "true"]);
      // The record's own expiry, one value (no stored copy beside it), the same on every replay.
      expect(values[0]).toMatch(/^\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$/);
      expect(values[1]).toBe(values[0]);
      expect(Date.parse(values[0]!)).toBeGreaterThanOrEqual(kept);
      expect(Date.parse(values[0]!)).toBeLessThanOrEqual(kept + 60_000);
      expect((await post("/charges", newKey())).headers.get("idempotency-key-expires")).toBeNull();
    });

    it("answers 429 with Retry-After when one key is hit more often than rateLimit allows", async () => {
      const key = newKey();
      const statuses = [];
      for (let i = 0; i < 4; i++) statuses.push((await post("/limited", key)).status);
      expect(statuses.slice(0, 3)).toEqual([201, 201, 201]);
      const limited = await post("/limited", key);
      expect(limited.status).toBe(429);
      expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    });

    it("keeps scopes apart: the same key in two accounts runs twice and never crosses over", async () => {
      const key = newKey();
      const a = await post("/scoped", key, { amount: 1 }, { "x-account": "acct_a" });
      const b = await post("/scoped", key, { amount: 2 }, { "x-account": "acct_b" });
      expect(a.status).toBe(201);
      expect(b.status).toBe(201);
      expect(b.headers.get("idempotent-replayed")).toBeNull();
      expect(await b.text()).toContain('"amount\\":2');
      const aAgain = await post("/scoped", key, { amount: 1 }, { "x-account": "acct_a" });
      expect(aAgain.headers.get("idempotent-replayed")).toBe("true");
      expect(await aAgain.text()).toContain('"amount\\":1');
    });

    it("matches the header names a user gives whatever their case (fingerprintHeaders, excludeHeaders)", async () => {
      const key = newKey();
      const first = await post("/named-headers", key, { amount: 1 }, { "x-account": "acct_a" });
      expect(first.status).toBe(201);
      expect(first.headers.get("x-charge-id")).toMatch(/^ch_\d+$/);
      const replay = await post("/named-headers", key, { amount: 1 }, { "X-ACCOUNT": "acct_a" });
      expect(replay.headers.get("idempotent-replayed")).toBe("true");
      expect(replay.headers.get("x-charge-id")).toBeNull();
      expect((await post("/named-headers", key, { amount: 1 }, { "x-account": "acct_b" })).status).toBe(422);
      expect(await runs("named-headers")).toBe(1);
    });

    it('scopes by a number as by its decimal text: a user id 42 and "42" are one scope', async () => {
      const key = newKey();
      const first = await post("/scoped-by-number", key, { amount: 1 }, { "x-account": "n:42" });
      expect(first.status).toBe(201);
      const asText = await post("/scoped-by-number", key, { amount: 1 }, { "x-account": "42" });
      expect(asText.headers.get("idempotent-replayed")).toBe("true");
      const other = await post("/scoped-by-number", key, { amount: 1 }, { "x-account": "n:43" });
      expect(other.status).toBe(201);
      expect(other.headers.get("idempotent-replayed")).toBeNull();
      expect(await runs("scoped-by-number")).toBe(2);
    });

    it("answers 500, without internals, when scope returns no principal, and never runs the handler", async () => {
      for (const name of Object.keys(INVALID_SCOPES)) {
        const response = await post("/scope-invalid", newKey(), { amount: 1 }, { "x-scope": name });
        expect(response.status, name).toBe(500);
        const body = await response.text();
        expect(body, name).not.toMatch(/RangeError|offset|\n\s+at /);
      }
      expect(await runs("scope-invalid")).toBeUndefined();
    });

    it("never stores request credentials or Set-Cookie", async () => {
      const key = newKey();
      await post(
        "/charges",
        key,
        { amount: 1 },
        { authorization: "Bearer sk_live_do_not_store", cookie: "sid=cookie-secret" },
      );
      const dump = await app.storedText();
      expect(dump).not.toContain("sk_live_do_not_store");
      expect(dump).not.toContain("cookie-secret");
      expect(dump).not.toContain("session=secret");
    });
  });
}

const bytes = (...parts: (string | number[])[]) =>
  new Uint8Array(
    Buffer.concat(parts.map((part) => (typeof part === "string" ? Buffer.from(part) : Buffer.from(part)))),
  );

/**
 * JSON bodies that one mainstream parser or another reads as different requests, with whether `JSON.parse` (what a
 * framework's parser runs) reads the two alike.
 */
const PARSER_SENSITIVE_BODIES: [string, string | Uint8Array, string | Uint8Array, boolean][] = [
  ["integers beyond 2^53", '{"n":10000000000000001}', '{"n":10000000000000000}', true],
  ["decimals beyond a double", '{"n":0.1000000000000000000001}', '{"n":0.1}', true],
  ["numbers beyond a double", '{"n":1e400}', '{"n":1e401}', true],
  ["a repeated key", '{"to":"alice","to":"mallory"}', '{"to":"mallory"}', true],
  ["a repeated key, deep", '{"a":[{"to":"alice","to":"mallory"}]}', '{"a":[{"to":"mallory"}]}', true],
  ["invalid UTF-8 in a string", bytes('{"to":"', [0xff], '"}'), bytes('{"to":"', [0xfe], '"}'), true],
  ["lone surrogate escapes", '{"to":"\\ud800"}', '{"to":"\\ud801"}', false],
];

/** A POST with raw header bytes (fetch refuses some malformed values before they reach the server). */
function rawPost(base: string, path: string, key: string | string[]): Promise<{ status: number; body: string }> {
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: "POST",
        headers: { "content-type": "application/json" },
        // A connection of its own: a server may close one after answering 400 unread (workerd does), and a pooled
        // socket would then hang up under the next request.
        agent: false,
      },
      (res) => {
        let body = "";
        res.setEncoding("latin1");
        res.on("data", (chunk) => {
          body += chunk;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
    // setHeader with an array sends the header once per value; latin1 keeps non-ASCII bytes as they are.
    req.setHeader("idempotency-key", Array.isArray(key) ? key : Buffer.from(key, "latin1").toString("latin1"));
    req.end('{"amount":1}');
  });
}

/**
 * A POST with a chunked body (no Content-Length), written in one go on a connection of its own, and the answer read
 * to the end. A server may answer 413 and close while a streaming client is still sending (workerd does): fetch then
 * fails with EPIPE instead of showing the answer, so the request is written whole before the server reads it.
 */
function rawChunkedPost(
  base: string,
  path: string,
  key: string,
  chunks: string[],
): Promise<{ status: number; headers: Headers; body: string }> {
  const url = new URL(path, base);
  const head = [
    `POST ${url.pathname} HTTP/1.1`,
    `host: ${url.host}`,
    "content-type: application/json",
    `idempotency-key: ${key}`,
    "transfer-encoding: chunked",
    "connection: close",
  ].join("\r\n");
  const body = chunks.map((chunk) => `${Buffer.byteLength(chunk).toString(16)}\r\n${chunk}\r\n`).join("");
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    const received: Buffer[] = [];
    socket.on("data", (data) => received.push(data));
    // A reset after the answer arrived is the server closing on the unread rest: the answer stands.
    socket.on("error", (error) => (received.length === 0 ? reject(error) : socket.destroy()));
    socket.on("close", () => {
      const text = Buffer.concat(received).toString("latin1");
      const split = text.indexOf("\r\n\r\n");
      if (split === -1) return reject(new Error(`no complete answer: ${JSON.stringify(text)}`));
      const [statusLine, ...lines] = text.slice(0, split).split("\r\n");
      const headers = new Headers(lines.map((line) => line.split(/:\s*/, 2) as [string, string]));
      let rest = text.slice(split + 4);
      if (headers.get("transfer-encoding") === "chunked") rest = dechunk(rest);
      resolve({ status: Number(statusLine!.split(" ")[1]), headers, body: rest });
    });
    socket.end(`${head}\r\n\r\n${body}0\r\n\r\n`);
  });
}

function dechunk(text: string): string {
  let out = "";
  let at = 0;
  for (;;) {
    const end = text.indexOf("\r\n", at);
    const size = Number.parseInt(text.slice(at, end), 16);
    if (!(size > 0)) return out;
    out += text.slice(end + 2, end + 2 + size);
    at = end + 2 + size + 2;
  }
}
