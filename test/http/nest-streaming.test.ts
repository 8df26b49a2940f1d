import { Controller, Get, Post, Res, Sse, type Type } from "@nestjs/common";
import { NestFactory } from "@nestjs/core";
import { ExpressAdapter } from "@nestjs/platform-express";
import { FastifyAdapter } from "@nestjs/platform-fastify";
import { of } from "rxjs";
import { describe, expect, it } from "vitest";
import { Idempotent, OncelyModule } from "../../src/adapters/nest/index.js";
import { createIdempotency, MemoryStore } from "../../src/index.js";
import { appModule, type NestPlatform } from "./nest-apps.js";

// On NestJS oncely streams a handler that writes its response itself through @Res() (the shared streaming cases run
// on it: test/http/streaming.test.ts). A streaming route whose handler Nest would pipe or subscribe (a returned value,
// a StreamableFile, an @Sse() Observable) is refused when the app starts: Nest stops reading it when the client
// leaves, and the run a retry follows would stop there.

const platforms: NestPlatform[] = ["express", "fastify"];

/** Creates and initialises the app (where modules check their setup), rejecting instead of exiting the process. */
async function init(platform: NestPlatform, module: Type): Promise<void> {
  const app = await NestFactory.create(module, platform === "express" ? new ExpressAdapter() : new FastifyAdapter(), {
    logger: false,
    abortOnError: false,
  });
  try {
    await app.init();
  } finally {
    await app.close();
  }
}

const store = () => new MemoryStore();

for (const platform of platforms) {
  describe(`nest on ${platform}: streaming routes`, () => {
    it("starts with a streaming handler that writes through @Res()", async () => {
      @Controller()
      class Completions {
        @Post("completions")
        @Idempotent({ stream: true })
        complete(@Res() res: { end(): void }) {
          res.end();
        }
      }
      const module = appModule({ imports: [OncelyModule.forRoot({ store: store() })], controllers: [Completions] });
      await expect(init(platform, module)).resolves.toBeUndefined();
    });

    it("refuses to start when a streaming handler returns its answer instead of writing it through @Res()", async () => {
      @Controller()
      class Completions {
        @Post("completions")
        @Idempotent({ stream: true })
        complete() {
          return "data: hello\n\n";
        }
      }
      const module = appModule({ imports: [OncelyModule.forRoot({ store: store() })], controllers: [Completions] });
      await expect(init(platform, module)).rejects.toThrow(
        /Completions\.complete has `stream: true` but does not take @Res\(\)/,
      );
    });

    it("refuses to start when an @Sse() route streams", async () => {
      @Controller()
      @Idempotent({ stream: true, methods: ["GET"] })
      class Progress {
        @Sse("progress")
        progress() {
          return of({ data: "50%" });
        }
      }
      const module = appModule({ imports: [OncelyModule.forRoot({ store: store() })], controllers: [Progress] });
      await expect(init(platform, module)).rejects.toThrow(/Progress\.progress is an @Sse\(\) route/);
    });

    it("refuses an instance that streams every route when one of them does not write through @Res()", async () => {
      @Controller()
      class Charges {
        @Post("charges")
        create() {
          return { id: "ch_1" };
        }

        @Get("charges")
        @Idempotent(false)
        list() {
          return [];
        }
      }
      const idem = createIdempotency({ store: store(), stream: true, logger: false });
      const module = appModule({ imports: [OncelyModule.forRoot(idem, { routes: "all" })], controllers: [Charges] });
      await expect(init(platform, module)).rejects.toThrow(/Charges\.create has `stream: true`/);
    });
  });
}
