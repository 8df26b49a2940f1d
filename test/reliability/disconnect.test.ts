import { randomUUID } from "node:crypto";
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createIdempotency, type Idempotency } from "../../src/index.js";
import type { RouteSpec, RunningServer } from "../http/app-spec.js";
import { until } from "../support/until.js";
import { sized } from "./budget.js";
import { adapters, portOf } from "./fuzz/adapters.js";
import { type Backend, type BackendName, openBackend } from "./fuzz/backends.js";
import { recordId } from "./fuzz/runner.js";
import { encodeRequest, header, send, type WireRequest } from "./fuzz/wire.js";

/**
 * Issue 8, disconnects, on every adapter and on the memory, SQLite and Redis stores:
 * - a client that disconnects (FIN or RST) while the handler runs: the handler finishes, its result is stored, and
 *   the retry replays it without running the handler again;
 * - a client that aborts (FIN or RST) while uploading the body: no claim is left behind, the handler never runs for
 *   it, and a retry with the whole body executes once.
 */
const rounds = sized(3, 15);
const backends: BackendName[] = ["memory", "sqlite", "redis"];

/** Opens a connection, writes `bytes`, waits for `ready`, then ends it (FIN) or resets it (RST). */
async function leave(port: number, bytes: Buffer, ready: () => Promise<void>, how: "fin" | "rst") {
  const socket = connect({ port, host: "127.0.0.1" });
  socket.on("error", () => {});
  const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
  await new Promise<void>((resolve) => socket.write(bytes, () => resolve()));
  await ready();
  if (how === "rst") socket.resetAndDestroy();
  else socket.destroySoon();
  await closed;
}

for (const backendName of backends) {
  for (const adapter of adapters) {
    describe(`disconnects: ${adapter.name} on ${backendName}`, () => {
      let backend: Backend | undefined;
      let idem: Idempotency;
      let server: RunningServer;
      let port = 0;
      const started = new Map<string, number>();
      const finished = new Map<string, number>();
      const gates = new Map<string, () => void>();
      const bump = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);

      const routes: RouteSpec[] = [
        {
          method: "POST",
          path: "/slow",
          handle: async ({ body, context }) => {
            const key = context!.key;
            bump(started, key);
            await new Promise<void>((resolve) => gates.set(key, resolve));
            bump(finished, key);
            return {
              status: 201,
              headers: [["content-type", "application/json"]],
              body: JSON.stringify({ key, run: finished.get(key), bytes: body.byteLength }),
            };
          },
        },
        {
          method: "POST",
          path: "/upload",
          handle: async ({ body, context }) => {
            const key = context!.key;
            bump(finished, key);
            return {
              status: 201,
              headers: [["content-type", "application/json"]],
              body: JSON.stringify({ key, run: finished.get(key), bytes: body.byteLength }),
            };
          },
        },
      ];

      beforeAll(async () => {
        backend = await openBackend(backendName);
        if (!backend) return;
        idem = createIdempotency({ store: backend.store });
        server = await adapter.start(idem, routes);
        port = portOf(server);
      }, 60_000);
      afterAll(async () => {
        for (const open of gates.values()) open();
        await server?.close();
        await backend?.close();
      });

      const request = (path: string, key: string, body: Buffer): WireRequest => ({
        method: "POST",
        path,
        headers: [
          ["idempotency-key", key],
          ["content-type", "application/json"],
        ],
        body,
      });

      for (const how of ["fin", "rst"] as const) {
        it(`a client that leaves (${how.toUpperCase()}) while the handler runs gets its result on the retry`, async (test) => {
          if (!backend) return test.skip();
          for (let round = 0; round < rounds; round++) {
            const key = `leave-${how}-${randomUUID()}`;
            const body = Buffer.from(JSON.stringify({ amount: round, pad: "x".repeat(round * 100) }));
            await leave(
              port,
              encodeRequest(request("/slow", key, body)),
              () => until(() => started.get(key) === 1, "the handler starts"),
              how,
            );
            // The server has seen the connection go; only now does the handler finish.
            await new Promise((resolve) => setTimeout(resolve, 20));
            gates.get(key)!();
            await until(() => finished.get(key) === 1, "the handler finishes");
            const id = recordId("", key);
            await until(async () => (await backend!.store.get(id))?.state === "completed", "the result is stored");
            const retry = await send(port, request("/slow", key, body));
            expect(retry.status, `round ${round}`).toBe(201);
            expect(header(retry, "idempotent-replayed")).toBe("true");
            expect(JSON.parse(retry.body.toString())).toEqual({ key, run: 1, bytes: expect.any(Number) });
            expect(started.get(key)).toBe(1);
            expect(finished.get(key)).toBe(1);
          }
        });

        it(`a client that aborts (${how.toUpperCase()}) mid-upload leaves no claim, and its retry executes once`, async (test) => {
          if (!backend) return test.skip();
          for (let round = 0; round < rounds; round++) {
            const key = `upload-${how}-${randomUUID()}`;
            const body = Buffer.from(JSON.stringify({ blob: "y".repeat(20_000 + round * 1000) }));
            const bytes = encodeRequest(request("/upload", key, body));
            // Everything but the last few hundred bytes of the body.
            const cut = bytes.subarray(0, bytes.byteLength - 300 - round * 10);
            await leave(port, cut, () => new Promise((resolve) => setTimeout(resolve, 20)), how);
            // Give the server time to read what arrived and see the end of it.
            await new Promise((resolve) => setTimeout(resolve, 50));
            expect(
              await backend.store.get(recordId("", key)),
              `round ${round}: a claim was left behind`,
            ).toBeUndefined();
            expect(finished.get(key)).toBeUndefined();
            const retry = await send(port, request("/upload", key, body));
            expect(retry.status, `round ${round}: ${retry.body}`).toBe(201);
            expect(header(retry, "idempotent-replayed")).toBeUndefined();
            expect(JSON.parse(retry.body.toString()).run).toBe(1);
            const again = await send(port, request("/upload", key, body));
            expect(header(again, "idempotent-replayed")).toBe("true");
            expect(finished.get(key)).toBe(1);
          }
        });
      }
    });
  }
}
