import { createServer } from "node:http";
import { connect } from "node:net";
import express, { type NextFunction, type Request, type Response } from "express";
import express4 from "express4";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { idempotency } from "../../src/adapters/express/index.js";
import { createIdempotency, MemoryStore } from "../../src/index.js";
import type { RunningServer } from "../http/app-spec.js";
import { listen } from "../http/servers.js";

// Found by reading how Express answers a handler that throws after it has written part of its body. Without oncely
// the headers are on the wire by then, so finalhandler gives up and closes the connection. Under oncely nothing has
// gone out yet, so finalhandler (or the app's own error middleware) answers a 500 with a Content-Length for its error
// page alone, while oncely sent the held bytes and that page: the bytes past the declared length were read as the
// start of the next response on the keep-alive connection, and the answer to the client's next request was garbage.
//
// Left open then: an error path that answers below 500 (an error middleware's 400 or 200, finalhandler's 400 for an
// error with `status: 400`) had that answer stored, so the retry got it replayed and the handler never ran again.
// A handler that threw (or passed an error to `next`) now releases the key, whatever the error path answers.

/** Where the error goes, and the status it is answered with. */
const CASES = [
  { path: "/finalhandler", status: 500 },
  { path: "/error-middleware", status: 500 },
  { path: "/error-middleware-400", status: 400 },
  { path: "/error-middleware-200", status: 200 },
  { path: "/finalhandler-400", status: 400 },
  { path: "/next-error-400", status: 400 },
  { path: "/app-level-400", status: 400 },
  { path: "/rejects-400", status: 400 },
] as const;

for (const [version, createApp] of [
  ["Express 5", express],
  ["Express 4", express4 as unknown as typeof express],
] as const) {
  describe(`regression (${version}): an error answer after the handler wrote part of its body`, () => {
    let server: RunningServer;
    let port = 0;
    let runs = 0;

    beforeAll(async () => {
      const idem = createIdempotency({ store: new MemoryStore() });
      const app = createApp();
      const partThenThrow = (req: Request, res: Response) => {
        runs += 1;
        res.setHeader("content-type", "text/plain");
        res.write("part of the body, ");
        throw Object.assign(
          new Error("the handler failed half way"),
          req.path === "/finalhandler-400" ? { status: 400 } : {},
        );
      };
      app.post("/finalhandler", idempotency(idem), partThenThrow);
      app.post("/error-middleware", idempotency(idem), partThenThrow);
      app.post("/error-middleware-400", idempotency(idem), partThenThrow);
      app.post("/error-middleware-200", idempotency(idem), partThenThrow);
      app.post("/finalhandler-400", idempotency(idem), partThenThrow);
      // An error handed to `next` later, as Express 4 handlers must do from a callback.
      app.post("/next-error-400", idempotency(idem), (_req: Request, res: Response, next: NextFunction) => {
        runs += 1;
        res.write("part of the body, ");
        setImmediate(() => next(new Error("the callback failed")));
      });
      // An async handler that rejects: Express 5 hands the rejection to `next`; Express 4 needs the handler to do it.
      app.post("/rejects-400", idempotency(idem), async (_req: Request, res: Response, next: NextFunction) => {
        runs += 1;
        res.write("part of the body, ");
        await new Promise((resolve) => setImmediate(resolve));
        const error = new Error("the async handler failed");
        if (version === "Express 4") return next(error);
        throw error;
      });
      // oncely mounted for the whole app rather than on the route.
      const appLevel = createApp.Router();
      appLevel.use(idempotency(idem));
      appLevel.post("/app-level-400", partThenThrow);
      app.use(appLevel);
      app.get("/next", (_req, res) => {
        res.json({ next: true });
      });
      app.use((error: Error, req: Request, res: Response, next: NextFunction) => {
        if (req.path === "/finalhandler" || req.path === "/finalhandler-400") return next(error);
        const status = req.path === "/error-middleware" ? 500 : req.path === "/error-middleware-200" ? 200 : 400;
        res.status(status).json({ error: error.message });
      });
      server = await listen(createServer(app));
      port = Number(new URL(server.url).port);
    });
    afterAll(() => server.close());

    /** Sends `requests` pipelined on one connection and returns what came back once the server has answered them all. */
    const pipelined = (requests: string[], answers: number) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(port, "127.0.0.1");
        let received = "";
        socket.on("data", (data) => {
          received += data.toString("latin1");
          if (received.split("HTTP/1.1 ").length - 1 >= answers && received.endsWith("}")) {
            socket.destroy();
            resolve(received);
          }
        });
        socket.on("error", reject);
        socket.on("close", () => resolve(received));
        socket.write(requests.join(""));
      });

    /** Splits raw HTTP/1.1 responses as a client does: by Content-Length, one after the other. */
    const responses = (raw: string) => {
      const parsed: { status: number; body: string }[] = [];
      let rest = raw;
      while (rest.length > 0) {
        const headEnd = rest.indexOf("\r\n\r\n");
        if (headEnd === -1) {
          parsed.push({ status: Number.NaN, body: rest });
          break;
        }
        const head = rest.slice(0, headEnd);
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        parsed.push({ status, body: rest.slice(headEnd + 4, headEnd + 4 + length) });
        rest = rest.slice(headEnd + 4 + length);
      }
      return parsed;
    };

    for (const { path, status } of CASES) {
      it(`${path}: the error answer (${status}) declares every byte sent, and the retry runs the handler again`, async () => {
        const key = `partial-${path.slice(1)}`;
        const post = `POST ${path} HTTP/1.1\r\nHost: x\r\nIdempotency-Key: ${key}\r\nContent-Length: 0\r\n\r\n`;
        const next = "GET /next HTTP/1.1\r\nHost: x\r\n\r\n";
        const before = runs;
        const [failed, after] = responses(await pipelined([post, next], 2));
        expect(failed?.status).toBe(status);
        expect(failed?.body.startsWith("part of the body, ")).toBe(true);
        expect(after).toEqual({ status: 200, body: '{"next":true}' });

        // The handler threw: whatever the error path answered is not its result, so nothing is stored.
        const [retried] = responses(await pipelined([post, next], 2));
        expect(retried?.status).toBe(status);
        expect(retried?.body.startsWith("part of the body, ")).toBe(true);
        expect(runs - before).toBe(2);
      });
    }
  });
}
