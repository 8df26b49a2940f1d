import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { UsageError } from "../../src/cli/errors.js";
import { loadProxyConfig, parseProxyConfig, routeFromFlag, toProxyRoute } from "../../src/cli/proxy/config.js";
import { parseRoutePattern } from "../../src/cli/proxy/routes.js";

describe("proxy route patterns", () => {
  it.each([
    ["POST /charges", "/charges", true],
    // Matched in the routing form: Express's default router takes /charges/ and /Charges for /charges, others
    // collapse doubled slashes or decode %2F, so the rule guards every spelling some upstream routes there.
    ["POST /charges", "/charges/", true],
    ["POST /charges", "/Charges", true],
    ["POST /charges", "//charges", true],
    ["POST /charges/*/capture", "/charges/ch_1%2Fcapture", true],
    ["POST /files/*", "/files/a%2Fb", true],
    ["POST /charges/*/capture", "/charges%2Fch_1%2Fcapture", true],
    ["POST /charges", "/x/..%2fcharges", true],
    ["POST /Charges/*", "/charges/ch_1", true],
    ["POST /charges", "/charges/x", false],
    ["POST /charges/*", "/charges/ch_1", true],
    ["POST /charges/*", "/charges/", false],
    ["POST /charges/*", "/charges/ch_1/capture", false],
    ["POST /charges/*/capture", "/charges/ch_1/capture", true],
    ["POST /charges/*/capture", "/charges//capture", false],
    ["POST /charges/**", "/charges/ch_1/capture", true],
    ["POST /charges/**", "/charges/ch_1", true],
    ["POST /charges/**", "/charges", false],
    ["POST /charges/**", "/charges/", false],
    ["POST /**", "/anything/at/all", true],
  ])("%s against %s: %s", (rule, path, expected) => {
    expect(parseRoutePattern(rule).matches(path)).toBe(expected);
  });

  it("names the route by its method and pattern, the method upper-cased", () => {
    expect(parseRoutePattern("post /charges/*")).toMatchObject({ method: "POST", name: "POST /charges/*" });
  });

  it.each([
    ["/charges", 'expected "METHOD /path"'],
    ["POST charges", 'must start with "/"'],
    ["POST /charges?x=1", "no query string"],
    ["POST /ch*rges", "whole segment"],
    ["POST /**/charges", '"**" may only end a pattern'],
    ["P?ST /charges", "is not a method"],
  ])("refuses %s in one line", (rule, message) => {
    expect(() => parseRoutePattern(rule)).toThrow(message);
  });
});

describe("proxy config file", () => {
  const dir = mkdtempSync(join(tmpdir(), "oncely-proxy-config-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const parse = (value: unknown) => parseProxyConfig(JSON.stringify(value), "oncely.json");

  it("reads routes with their options, durations in ms", () => {
    const file = join(dir, "ok.json");
    writeFileSync(
      file,
      JSON.stringify({
        routes: [
          { route: "POST /charges", required: true, scopeHeader: "X-Account-Id", ttl: "7d" },
          { route: "PATCH /orders/*", onInFlight: "wait", waitTimeout: 5000, fingerprintHeaders: ["Stripe-Account"] },
          { route: "POST /a", rateLimit: false, credentialHeaders: ["X-Api-Key", "Cookie:sid"] },
          { route: "POST /b", rateLimit: { max: 5, window: "1m" } },
          { route: "POST /v1/chat/completions", stream: true, onInFlight: "join" },
        ],
      }),
    );
    expect(loadProxyConfig(file)).toEqual([
      { route: "POST /charges", required: true, scopeHeader: "x-account-id", ttl: 604_800_000 },
      { route: "PATCH /orders/*", onInFlight: "wait", waitTimeout: 5000, fingerprintHeaders: ["stripe-account"] },
      { route: "POST /a", rateLimit: false, credentialHeaders: ["x-api-key", "cookie:sid"] },
      { route: "POST /b", rateLimit: { max: 5, window: 60_000 } },
      { route: "POST /v1/chat/completions", stream: true, onInFlight: "join" },
    ]);
  });

  it.each([
    ["not json", "config oncely.json: not valid JSON"],
    [[], 'config oncely.json: expected an object with a "routes" array'],
    [{ routes: [], upstream: "x" }, 'config oncely.json: unknown field "upstream"'],
    [{ routes: ["POST /x"] }, "config oncely.json: routes[0]: expected an object"],
    [{ routes: [{ ttl: "1h" }] }, 'config oncely.json: routes[0].route: expected "METHOD /path"'],
    [{ routes: [{ route: "POST x" }] }, 'config oncely.json: routes[0]: route "POST x": the path pattern'],
    [
      { routes: [{ route: "POST /x", ttl: "soon" }] },
      'config oncely.json: routes[0].ttl: expected a duration such as "24h"',
    ],
    [
      { routes: [{ route: "POST /x" }, { route: "POST /y", required: "yes" }] },
      "routes[1].required: expected true or false",
    ],
    [{ routes: [{ route: "POST /x", scopeHeader: "bad header" }] }, "routes[0].scopeHeader: expected a header name"],
    [
      { routes: [{ route: "POST /x", onInFlight: "queue" }] },
      'routes[0].onInFlight: expected "reject", "wait" or "join"',
    ],
    [{ routes: [{ route: "POST /x", stream: "yes" }] }, "routes[0].stream: expected true or false"],
    [{ routes: [{ route: "POST /x", streaming: true }] }, 'routes[0]: unknown field "streaming"; expected route, ttl'],
    [
      { routes: [{ route: "POST /x", onInFlight: "join" }] },
      'routes[0].onInFlight: "join" follows a stream in flight, so it needs "stream": true',
    ],
    [{ routes: [{ route: "POST /x", credentialHeaders: "cookie" }] }, "routes[0].credentialHeaders: expected an array"],
    [{ routes: [{ route: "POST /x", credentialHeaders: ["cookie:"] }] }, "routes[0].credentialHeaders[0]: expected"],
    [{ routes: [{ route: "POST /x", maxResponseBytes: -1 }] }, "routes[0].maxResponseBytes: expected a whole number"],
    [{ routes: [{ route: "POST /x", tll: "1h" }] }, 'routes[0]: unknown field "tll"; expected route, ttl'],
    [{ routes: [{ route: "POST /x", rateLimit: true }] }, 'routes[0].rateLimit: expected false or { "max": 100'],
    [
      { routes: [{ route: "POST /x", rateLimit: { max: 0, window: "1s" } }] },
      "routes[0].rateLimit.max: expected a whole",
    ],
    [{ routes: [{ route: "POST /x", rateLimit: { max: 5, window: "x" } }] }, "routes[0].rateLimit.window: expected a"],
  ])("refuses %j with one line naming the field", (value, message) => {
    const text = typeof value === "string" ? value : JSON.stringify(value);
    let error: unknown;
    try {
      parseProxyConfig(text, "oncely.json");
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toContain(message);
    expect((error as Error).message).not.toContain("\n");
  });

  it("says which file cannot be read", () => {
    expect(() => loadProxyConfig(join(dir, "missing.json"))).toThrow(
      /config .*missing\.json: cannot be read \(ENOENT\)/,
    );
  });

  it("puts command-line defaults under each route's own options; the scope comes from the named header", async () => {
    const [route] = parse({ routes: [{ route: "POST /charges", ttl: "1h" }] });
    const { options } = toProxyRoute(route!, { ttl: 5000, required: true, scopeHeader: "x-account" });
    expect(options).toMatchObject({ ttl: 3_600_000, required: true });
    const scope = await options!.scope!({
      method: "POST",
      path: "/charges",
      query: "",
      headers: { "x-account": "acct_1" },
      body: undefined,
      raw: undefined,
    });
    expect(scope).toBe("acct_1");
    // By default the caller's Authorization is part of the scope, hashed; a route may opt out with [].
    const request = { method: "POST", path: "/x", query: "", body: undefined, raw: undefined };
    const byCredential = toProxyRoute(routeFromFlag("POST /x"), {}).options!.scope!;
    expect(await byCredential({ ...request, headers: {} })).toBe("\u0000anonymous");
    const scoped = String(await byCredential({ ...request, headers: { authorization: "Bearer secret_token" } }));
    expect(scoped.startsWith("\u0000")).toBe(true);
    expect(scoped).toHaveLength(44);
    expect(scoped).not.toContain("secret_token");
    expect(toProxyRoute(routeFromFlag("POST /x"), { credentialHeaders: [] }).options).toEqual({});
  });

  it("refuses a bad --route as a usage error", () => {
    expect(() => routeFromFlag("/charges")).toThrow(UsageError);
  });
});
