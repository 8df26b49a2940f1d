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
