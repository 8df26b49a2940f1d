import { randomUUID } from "node:crypto";
import { Controller, Post, type Type, UseInterceptors } from "@nestjs/common";
import { NestFactory } from "@nestjs/core";
import { ExpressAdapter } from "@nestjs/platform-express";
import { FastifyAdapter } from "@nestjs/platform-fastify";
import { afterEach, describe, expect, it } from "vitest";
import { IdempotencyInterceptor, Idempotent, OncelyModule } from "../../src/adapters/nest/index.js";
import { MemoryStore } from "../../src/index.js";
import { appModule, type NestPlatform, type RunningNestApp, startNest } from "./nest-apps.js";

// A handler marked @Idempotent() is guarded however the app is put together, or the app does not start: never a
// silent second run of the handler.

const platforms: NestPlatform[] = ["express", "fastify"];
let running: RunningNestApp | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

/** A controller whose one @Idempotent() handler counts its runs. */
function chargesController() {
  const runs = { count: 0 };
  @Controller("charges")
  class ChargesController {
    @Post()
    @Idempotent()
    create() {
      runs.count++;
      return { run: runs.count };
    }
  }
  return { runs, ChargesController };
}

async function postTwice(url: string) {
  const key = randomUUID();
  const send = () => fetch(`${url}/charges`, { method: "POST", headers: { "idempotency-key": key } });
  await (await send()).arrayBuffer();
  return send();
}

/** Creates the app as NestFactory.create does, rejecting instead of exiting the process (Nest's default). */
const create = (platform: NestPlatform, module: Type) =>
  NestFactory.create(module, platform === "express" ? new ExpressAdapter() : new FastifyAdapter(), {
    logger: false,
    abortOnError: false,
  });

const MISSING_MODULE = /OncelyModule is not imported.*OncelyModule\.forRoot/s;

for (const platform of platforms) {
  describe(`nest on ${platform}: setting oncely up`, () => {
    it("refuses to start when a handler is marked @Idempotent() but OncelyModule is not imported", async () => {
      const { ChargesController } = chargesController();
      await expect(create(platform, appModule({ controllers: [ChargesController] }))).rejects.toThrow(MISSING_MODULE);
    });

    it("refuses to start when IdempotencyInterceptor is applied but OncelyModule is not imported", async () => {
      @Controller("refunds")
      @UseInterceptors(IdempotencyInterceptor)
      class RefundsController {
        @Post()
        create() {
          return {};
        }
      }
      await expect(create(platform, appModule({ controllers: [RefundsController] }))).rejects.toThrow(MISSING_MODULE);
    });

    it("guards a handler marked @Idempotent() with applyGlobally: false and no @UseInterceptors", async () => {
      const { runs, ChargesController } = chargesController();
      running = await startNest(
        platform,
        appModule({
          imports: [OncelyModule.forRoot({ store: new MemoryStore() }, { applyGlobally: false })],
          controllers: [ChargesController],
        }),
      );
      const second = await postTwice(running.url);
      expect(second.headers.get("idempotent-replayed")).toBe("true");
      expect(runs.count).toBe(1);
    });

    it("guards a handler marked @Idempotent() once when the module also applies the interceptor globally", async () => {
      const { runs, ChargesController } = chargesController();
      running = await startNest(
        platform,
        appModule({ imports: [OncelyModule.forRoot({ store: new MemoryStore() })], controllers: [ChargesController] }),
      );
      const second = await postTwice(running.url);
      expect(second.headers.get("idempotent-replayed")).toBe("true");
      expect(runs.count).toBe(1);
    });
  });
}
