import type { IncomingMessage } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RouteConfig, toProxyRoute } from "../../src/cli/proxy/config.js";
import { type Listening, listen, rawRequest, startProxy } from "./proxy/harness.js";

// Tenant isolation through the proxy, over real sockets. The upstream here authorizes the way Stripe-Account works:
// `X-Account-Id` names the account, and the bearer token must belong to it. The proxy must decide (scope,
// fingerprint, key) on exactly the request the upstream sees, so a header the upstream never receives cannot place
// a request in an account's key space.

const TOKENS: Record<string, string> = { "Bearer tok_A": "acct_A", "Bearer tok_B": "acct_B" };

describe("oncely proxy: tenant isolation", () => {
  let upstream: Listening;
  const runs: { account: string | undefined; status: number; stripeAccount: string | undefined }[] = [];

  beforeAll(async () => {
    upstream = await listen((req: IncomingMessage, res) => {
      req.resume();
      req.on("end", () => {
        const account = req.headers["x-account-id"] as string | undefined;
        const owner = TOKENS[req.headers.authorization ?? ""];
        // No account named: the caller's own (anonymous here), which has no charges to make.
        const status = account === undefined ? 401 : owner === account ? 201 : 403;
        runs.push({ account, status, stripeAccount: req.headers["stripe-account"] as string | undefined });
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify({ account: account ?? null, status }));
      });
    });
  });
  afterAll(() => upstream.close());

  const proxyWith = (config: Omit<RouteConfig, "route">) =>
    startProxy({ upstream: upstream.url, routes: [toProxyRoute({ route: "POST /charges", ...config }, {})] });

  const charge = (front: { url: string }, key: string, headers: Record<string, string>) =>
    rawRequest(`${front.url}/charges`, { method: "POST", headers: { "idempotency-key": key, ...headers }, body: "{}" });

  describe("the default scope: the caller's credential", () => {
    it("never replays an account's answer to a caller without its credential, nor theirs to the account", async () => {
      const front = await proxyWith({ scopeHeader: "x-account-id" });
      try {
        const before = runs.length;
        // Someone without credentials names account A: the upstream refuses them, and that 403 is theirs only.
        const probe = await charge(front, "cred-1", { "x-account-id": "acct_A" });
        expect(probe.status).toBe(403);
        const own = await charge(front, "cred-1", { "x-account-id": "acct_A", authorization: "Bearer tok_A" });
        expect(own.status).toBe(201);
        expect(own.headers["idempotent-replayed"]).toBeUndefined();
        // And once A has a stored 201, the same key and account without A's token does not get it.
        const again = await charge(front, "cred-1", { "x-account-id": "acct_A", authorization: "Bearer tok_A" });
        expect(again.headers["idempotent-replayed"]).toBe("true");
        const thief = await charge(front, "cred-1", { "x-account-id": "acct_A" });
        expect(thief.status).toBe(403);
        const other = await charge(front, "cred-1", { "x-account-id": "acct_A", authorization: "Bearer tok_B" });
        expect(other.status).toBe(403);
        expect(runs.length - before).toBe(3);
      } finally {
        await front.close();
      }
    });

    it("scopes by Authorization with no scope header configured", async () => {
      const front = await proxyWith({});
      try {
        const before = runs.length;
        const a = { "x-account-id": "acct_A", authorization: "Bearer tok_A" };
        expect((await charge(front, "cred-2", a)).status).toBe(201);
        expect((await charge(front, "cred-2", { "x-account-id": "acct_A" })).status).toBe(403);
        expect((await charge(front, "cred-2", { ...a, authorization: "Bearer tok_B" })).status).toBe(403);
        expect((await charge(front, "cred-2", a)).headers["idempotent-replayed"]).toBe("true");
        expect(runs.length - before).toBe(3);
      } finally {
        await front.close();
      }
    });

    it("takes other credential headers, any case, and one cookie by name", async () => {
      const front = await proxyWith({ scopeHeader: "x-account-id", credentialHeaders: ["X-Api-Key", "cookie:sid"] });
      try {
        const before = runs.length;
        const a = { "x-account-id": "acct_A", "x-api-key": "key_A" };
        expect((await charge(front, "cred-3", a)).status).toBe(403);
        expect((await charge(front, "cred-3", { ...a, "x-api-key": "key_B" })).headers["idempotent-replayed"]).toBe(
          undefined,
        );
        expect((await charge(front, "cred-3", a)).headers["idempotent-replayed"]).toBe("true");
        // A session cookie: other cookies may change between retries, the session may not.
        const session = { "x-account-id": "acct_A", cookie: "theme=dark; sid=s1" };
        await charge(front, "cred-4", session);
        expect((await charge(front, "cred-4", { ...session, cookie: "sid=s1; seen=2" })).headers).toMatchObject({
          "idempotent-replayed": "true",
        });
        expect((await charge(front, "cred-4", { ...session, cookie: "sid=s2" })).headers["idempotent-replayed"]).toBe(
          undefined,
        );
        expect(runs.length - before).toBe(4);
      } finally {
        await front.close();
      }
    });

    it("can be turned off (credentialHeaders: []): then the scope header alone is the scope", async () => {
      const front = await proxyWith({ scopeHeader: "x-account-id", credentialHeaders: [] });
      try {
        await charge(front, "cred-5", { "x-account-id": "acct_A", authorization: "Bearer tok_A" });
        const anonymous = await charge(front, "cred-5", { "x-account-id": "acct_A" });
        expect(anonymous.headers["idempotent-replayed"]).toBe("true");
      } finally {
        await front.close();
      }
    });
  });

  describe("headers named in Connection", () => {
    it("are not the scope: a scope header the upstream never sees cannot put its answer in that account", async () => {
      const front = await proxyWith({ scopeHeader: "x-account-id" });
      try {
        const before = runs.length;
        const send = (headers: Record<string, string>) =>
          rawRequest(`${front.url}/charges`, {
            method: "POST",
            headers: {
              "idempotency-key": "conn-1",
              authorization: "Bearer tok_A",
              "x-account-id": "acct_A",
              ...headers,
            },
            body: "{}",
          });
        const stripped = await send({ connection: "x-account-id" });
        expect(runs.at(-1)).toMatchObject({ account: undefined, status: 401 });
        expect(stripped.status).toBe(401);
        // The account's own request under the same key runs: the 401 of a request without the account is not its.
        const own = await send({});
        expect(own.status).toBe(201);
        expect(own.headers["idempotent-replayed"]).toBeUndefined();
        expect(runs.length - before).toBe(2);
      } finally {
        await front.close();
      }
    });

    it("are not in the fingerprint: a header the upstream never sees does not make another request", async () => {
      const front = await proxyWith({ scopeHeader: "x-account-id", fingerprintHeaders: ["stripe-account"] });
      try {
        const send = (headers: Record<string, string>) =>
          rawRequest(`${front.url}/charges`, {
            method: "POST",
            headers: {
              "idempotency-key": "conn-2",
              authorization: "Bearer tok_A",
              "x-account-id": "acct_A",
              ...headers,
            },
            body: "{}",
          });
        const first = await send({ "stripe-account": "acct_1", connection: "Stripe-Account" });
        expect(first.status).toBe(201);
        expect(runs.at(-1)!.stripeAccount).toBeUndefined();
        // The upstream saw no Stripe-Account: the same request without one is a replay, and one with another is not.
        const same = await send({});
        expect(same.headers["idempotent-replayed"]).toBe("true");
        expect((await send({ "stripe-account": "acct_2" })).status).toBe(422);
      } finally {
        await front.close();
      }
    });

    it("refuse the key itself: Connection: Idempotency-Key on a guarded route is a 400, never run unguarded", async () => {
      const front = await proxyWith({});
      try {
        const before = runs.length;
        const send = () =>
          rawRequest(`${front.url}/charges`, {
            method: "POST",
            headers: {
              "idempotency-key": "conn-3",
              connection: "keep-alive, Idempotency-Key",
              authorization: "Bearer tok_A",
              "x-account-id": "acct_A",
            },
            body: "{}",
          });
        for (const response of [await send(), await send()]) {
          expect(response.status).toBe(400);
          expect(response.headers["content-type"]).toBe("application/problem+json");
          expect(JSON.parse(response.body).type).toBe("urn:oncely:problem:hop-by-hop-key");
        }
        expect(runs.length).toBe(before);
      } finally {
        await front.close();
      }
    });
  });
});
