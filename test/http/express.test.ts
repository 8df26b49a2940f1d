import { createServer } from "node:http";
import type { RequestHandler } from "express";
import express5 from "express";
import express4 from "express4";
import { idempotency } from "../../src/http/express.js";
import type { StartServer } from "./app-spec.js";
import { describeHttpSemantics } from "./semantics.js";
import { listen, readStream, writeNode } from "./servers.js";

type ExpressFactory = () => {
  [method: string]: unknown;
  use: (...handlers: unknown[]) => void;
};

const startExpress =
  (factory: ExpressFactory): StartServer =>
  async (idem, routes) => {
    const app = factory();
    for (const route of routes) {
      const handler: RequestHandler = async (req, res, next) => {
        try {
          writeNode(res, await route.handle({ body: await readStream(req), context: req.idempotency }));
        } catch (error) {
          next(error);
        }
      };
      (app[route.method.toLowerCase()] as (...args: unknown[]) => void)(
        route.path,
        idempotency(idem, route.options),
        handler,
      );
    }
    app.use(((_error, _req, res, _next) => {
      res.status(500).send("internal error");
    }) as express5.ErrorRequestHandler);
    return listen(createServer(app as unknown as Parameters<typeof createServer>[1]));
  };

describeHttpSemantics("express 5", startExpress(express5 as unknown as ExpressFactory));
describeHttpSemantics("express 4", startExpress(express4 as unknown as ExpressFactory));
