import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CountingUpstream, countingUpstream, type ProxyUnderTest, startProxy } from "./proxy/harness.js";

// The request target as clients may send it, over a raw socket (fetch and node:http only send origin-form). The
// proxy's route rules and the upstream's router must agree on which route a request is for: an absolute-form target
// (`POST http://host/charges`, what clients send to a forward proxy), a dot segment or a doubled slash that the
// upstream routes to /charges while the rule did not match used to skip `required` and run one key twice.

interface RawAnswer {
  status: number;
  body: string;
}

/** Sends `METHOD target HTTP/1.1` exactly as written, and reads the one answer. */
function sendRaw(url: string, target: string, headers: Record<string, string> = {}, body = "{}"): Promise<RawAnswer> {
  const { hostname, port } = new URL(url);
  const head = Object.entries({ host: "api.example", "content-length": String(body.length), ...headers })
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join("");
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      socket.write(`POST ${target} HTTP/1.1\r\n${head}connection: close\r\n\r\n${body}`);
    });
    let text = "";
    socket.setEncoding("utf8").on("data", (chunk: string) => {
      text += chunk;
    });
    socket.on("error", reject);
    socket.on("close", () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      resolve({ status, body: text.slice(text.indexOf("\r\n\r\n") + 4) });
    });
  });
}

describe("oncely proxy: request targets", () => {
  let upstream: CountingUpstream;
  let front: ProxyUnderTest;

  beforeAll(async () => {
    upstream = await countingUpstream();
    front = await startProxy({
      upstream: upstream.url,
      routes: [{ route: "POST /charges", options: { required: true } }],
    });
  });
  afterAll(async () => {
    await front.close();
    await upstream.close();
  });

  it.each([
    "http://api.example/charges",
    "HTTP://API.EXAMPLE:80/charges?",
    "https://api.example/charges",
    "/charges?",
    "/charges#fragment",
    "/charges/",
    "//charges",
    "/./charges",
    "/charges/../charges",
    "/x/%2e%2e/charges",
    "/x/..%2Fcharges",
    "/ch%61rges",
    "/Charges",
    "/charges%2F",
  ])("guards POST %s as POST /charges: without a key it is refused, never forwarded", async (target) => {
    const before = upstream.seen.length;
    const answer = await sendRaw(front.url, target);
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body).type).toBe("urn:oncely:problem:missing-key");
    expect(upstream.seen.length).toBe(before);
  });

  it("forwards an absolute-form target in origin-form, and runs its key once", async () => {
    const send = (target: string) => sendRaw(front.url, target, { "idempotency-key": "abs-1" });
    const first = await send("http://api.example/charges?currency=eur");
    expect(first.status).toBe(201);
    expect(upstream.seen.at(-1)!.url).toBe("/charges?currency=eur");
    expect(upstream.seen.at(-1)!.headers["x-forwarded-host"]).toBe("api.example");
    const retry = await send("/charges?currency=eur");
    expect(retry.status).toBe(201);
    expect(upstream.runs.get("/charges")).toBe(1);
  });

  it("forwards the path it matched: dot segments resolved, a fragment dropped, unreserved escapes decoded", async () => {
    for (const [target, forwarded] of [
      ["/charges/../charges?x=1", "/charges?x=1"],
      ["/ch%61rges?y=1#top", "/charges?y=1"],
    ] as const) {
      const answer = await sendRaw(front.url, target, { "idempotency-key": `fwd-${target}` });
      expect(answer.status).toBe(201);
      expect(upstream.seen.at(-1)!.url).toBe(forwarded);
    }
  });

  it.each(["*", "ftp://api.example/charges", "api.example:443"])("refuses the target %s with a 400", async (target) => {
    const before = upstream.seen.length;
    const answer = await sendRaw(front.url, target, { "idempotency-key": "odd" });
    expect(answer.status).toBe(400);
    expect(upstream.seen.length).toBe(before);
  });
});
