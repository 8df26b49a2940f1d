import { readFileSync } from "node:fs";
import { Miniflare } from "miniflare";
import { afterEach, describe, expect, it } from "vitest";
import type { RunningServer } from "../http/app-spec.js";
import { bundleEntry } from "./bundle.js";
import { launchServer, runtimeBin } from "./launch.js";

// examples/bun, examples/deno and examples/worker, each run in its own runtime and driven over a real socket.

let server: RunningServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** Orders once per key: the retry replays the first order, another key orders again, no key is refused. */
async function ordersOncePerKey(url: string) {
  const order = (key: string | undefined) =>
    fetch(`${url}/orders`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(key ? { "idempotency-key": key } : {}) },
      body: JSON.stringify({ item: "book" }),
    });
  const first = await order("order-1");
  expect(first.status).toBe(201);
  const firstBody = await first.json();
  expect(firstBody).toEqual({ order: 1, item: "book" });
  const retry = await order("order-1");
  expect(retry.headers.get("idempotent-replayed")).toBe("true");
  expect(await retry.json()).toEqual(firstBody);
  expect(await (await order("order-2")).json()).toEqual({ order: 2, item: "book" });
  expect((await order(undefined)).status).toBe(400);
}

describe("examples in their runtimes", () => {
  it("examples/bun/server.ts on Bun", async () => {
    server = await launchServer(runtimeBin("bun"), ["examples/bun/server.ts"], { PORT: "0" });
    await ordersOncePerKey(server.url);
  });

  it("examples/deno/server.ts on Deno", async () => {
    const flags = ["--sloppy-imports", "--no-lock", "--allow-net=127.0.0.1", "--allow-env", "--allow-read"];
    server = await launchServer(runtimeBin("deno"), ["run", ...flags, "examples/deno/server.ts"], { PORT: "0" });
    await ordersOncePerKey(server.url);
  });

  it("examples/worker on workerd, with its Durable Object as wrangler.toml binds it", async () => {
    const toml = readFileSync(new URL("../../examples/worker/wrangler.toml", import.meta.url), "utf8");
    const value = (pattern: RegExp) => pattern.exec(toml)?.[1];
    const binding = value(/name = "(\w+)"\nclass_name/)!;
    const className = value(/class_name = "(\w+)"/)!;
    expect(value(/new_sqlite_classes = \["(\w+)"\]/)).toBe(className);
    const script = await bundleEntry(`examples/worker/${value(/main = "(.+)"/)}`, "example-worker", "inline");
    const worker = new Miniflare({
      modules: true,
      scriptPath: script,
      compatibilityDate: value(/compatibility_date = "(.+)"/)!,
      durableObjects: { [binding]: { className, useSQLite: true } },
      host: "127.0.0.1",
      port: 0,
    });
    server = { url: (await worker.ready).origin, close: () => worker.dispose() };
    await ordersOncePerKey(server.url);
  });
});
