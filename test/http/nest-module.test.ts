import type { IncomingMessage, ServerResponse } from "node:http";
import {
  type ArgumentsHost,
  Body,
  Catch,
  Controller,
  type ExceptionFilter,
  Header,
  Headers,
  HttpCode,
  HttpException,
  Inject,
  Injectable,
  Module,
  type NestInterceptor,
  Post,
  Req,
  Res,
  UseInterceptors,
} from "@nestjs/common";
import { APP_FILTER, APP_INTERCEPTOR, HttpAdapterHost } from "@nestjs/core";
import { map, Observable } from "rxjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IdempotencyCtx, IdempotencyInterceptor, Idempotent, OncelyModule } from "../../src/adapters/nest/index.js";
import {
  createIdempotency,
  deriveKey,
  type Idempotency,
  type IdempotencyContext,
  type IdempotencyEvent,
  MemoryStore,
  type Store,
} from "../../src/index.js";
import { appModule, type NestPlatform, type RunningNestApp, startNest } from "./nest-apps.js";

const runs = new Map<string, number>();
const count = (name: string) => {
  const n = (runs.get(name) ?? 0) + 1;
  runs.set(name, n);
  return n;
};
let keyCounter = 0;
const newKey = () => `nest-${Date.now()}-${++keyCounter}`;

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}
let observableGate = gate();
const declinedOnce = new Set<string>();

/** Answers through Express's `res` or Fastify's `reply`, as a handler with `@Res()` does. */
function answer(res: unknown, status: number, body: unknown) {
  const reply = res as {
    code?: (s: number) => { send(b: unknown): void };
    status(s: number): { json(b: unknown): void };
  };
  if (typeof reply.code === "function") reply.code(status).send(body);
  else reply.status(status).json(body);
}

@Controller()
class ChargesController {
  @Post("plain")
  plain() {
    return { n: count("plain") };
  }

  @Post("guarded")
  @Idempotent()
  guarded() {
    return { n: count("guarded") };
  }

  @Post("serialised")
  @Idempotent()
  @HttpCode(202)
  @Header("x-route", "serialised")
  serialised(@Body() body: { amount: number }) {
    return { id: `ch_${count("serialised")}`, amount: body.amount, nested: { ok: true, list: [1, 2] } };
  }

  @Post("with-res")
  @Idempotent()
  withRes(@Res() res: unknown) {
    answer(res, 201, { n: count("with-res"), via: "@Res" });
  }

  @Post("empty")
  @Idempotent()
  @HttpCode(204)
  empty(): void {
    count("empty");
  }

  @Post("declines")
  @Idempotent()
  declines(@Headers("idempotency-key") key: string) {
    count("declines");
    if (!declinedOnce.has(key)) {
      declinedOnce.add(key);
      throw new HttpException({ code: "card_declined" }, 402);
    }
    return { declined: "once" };
  }

  @Post("context")
  @Idempotent()
  context(@IdempotencyCtx() context: IdempotencyContext | undefined, @Req() req: { idempotency?: IdempotencyContext }) {
    return { key: context?.key ?? null, same: context === req.idempotency, derived: context?.deriveKey("psp") ?? null };
  }

  @Post("observable")
  @Idempotent()
  observable() {
    const n = count("observable");
    return new Observable((subscriber) => {
      void observableGate.opened.then(() => {
        subscriber.next({ n });
        subscriber.complete();
      });
    });
  }
}

@Controller("strict")
@Idempotent({ required: true })
class StrictController {
  @Post("inherits")
  inherits() {
    return { n: count("strict-inherits") };
  }

  @Post("overrides")
  @Idempotent({ required: false })
  overrides() {
    return { n: count("strict-overrides") };
  }
}

@Controller("all")
class UndecoratedController {
  @Post("undecorated")
  undecorated() {
    return { n: count("undecorated") };
  }

  @Post("exempt")
  @Idempotent(false)
  exempt() {
    return { n: count("exempt") };
  }
}

/** A catch-all filter as Nest's docs write it: it replies without asking whether the response was sent. */
const filtered: unknown[] = [];
@Catch()
class EverythingFilter implements ExceptionFilter {
  constructor(@Inject(HttpAdapterHost) private readonly adapterHost: HttpAdapterHost) {}
  catch(exception: unknown, host: ArgumentsHost) {
    filtered.push(exception);
    const status = exception instanceof HttpException ? exception.getStatus() : 500;
    const body = exception instanceof HttpException ? exception.getResponse() : { statusCode: 500 };
    this.adapterHost.httpAdapter.reply(host.switchToHttp().getResponse(), body, status);
  }
}

/** The common "wrap every result" interceptor, applied to the whole app like oncely's. */
@Injectable()
class WrapInterceptor implements NestInterceptor {
  intercept(_context: unknown, next: { handle(): Observable<unknown> }) {
    return next.handle().pipe(map((data) => ({ data })));
  }
}

const post = (
  app: RunningNestApp,
  path: string,
  key?: string,
  body: unknown = { amount: 100 },
  init: RequestInit = {},
) =>
  fetch(`${app.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(key ? { "idempotency-key": key } : {}) },
    body: typeof body === "string" ? body : JSON.stringify(body),
    ...init,
  });

async function until(condition: () => boolean, timeout = 5000) {
  const deadline = Date.now() + timeout;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe.each(["express", "fastify"] as NestPlatform[])("oncely/nest on %s", (platform) => {
  describe("a typical app (forRoot, a catch-all filter, a result-wrapping interceptor)", () => {
    let app: RunningNestApp;
    const events: IdempotencyEvent[] = [];
    const finished: { key: string | undefined; status: number }[] = [];
    const logs: string[] = [];

    beforeAll(async () => {
      const idem = createIdempotency({ store: new MemoryStore(), onEvent: (event) => events.push(event) });
      app = await startNest(
        platform,
        appModule({
          imports: [OncelyModule.forRoot(idem)],
          controllers: [ChargesController, StrictController, UndecoratedController],
          providers: [
            { provide: APP_FILTER, useClass: EverythingFilter },
            { provide: APP_INTERCEPTOR, useClass: WrapInterceptor },
          ],
        }),
        {
          fastifyLogger: { level: "warn", stream: { write: (line: string) => logs.push(line) } },
          configure: (nest) =>
            nest.use((req: IncomingMessage, res: ServerResponse, next: () => void) => {
              // What an access logger sees: the status on 'finish'.
              const key = req.headers["idempotency-key"] as string | undefined;
              res.on("finish", () => finished.push({ key, status: res.statusCode }));
              next();
            }),
        },
      );
    });
    afterAll(async () => {
      observableGate.open();
      await app.close();
    });

    it("guards only @Idempotent() routes: an undecorated route runs on every request", async () => {
      const key = newKey();
      const plainBefore = runs.get("plain") ?? 0;
      await post(app, "/plain", key);
      const plainAgain = await post(app, "/plain", key);
      expect(plainAgain.headers.get("idempotent-replayed")).toBeNull();
      expect(runs.get("plain")).toBe(plainBefore + 2);
      const undecorated = runs.get("undecorated") ?? 0;
      await post(app, "/all/undecorated", key);
      await post(app, "/all/undecorated", key);
      expect(runs.get("undecorated")).toBe(undecorated + 2);

      const guardedKey = newKey();
      const guardedBefore = runs.get("guarded") ?? 0;
      const first = await post(app, "/guarded", guardedKey);
      const retry = await post(app, "/guarded", guardedKey);
      expect(retry.headers.get("idempotent-replayed")).toBe("true");
      expect(await retry.text()).toBe(await first.text());
      expect(runs.get("guarded")).toBe(guardedBefore + 1);
    });

    it("applies a controller's @Idempotent() options to its handlers, and a handler's own override", async () => {
      const before = runs.get("strict-inherits") ?? 0;
      const missing = await post(app, "/strict/inherits");
      expect(missing.status).toBe(400);
      expect(((await missing.json()) as { type: string }).type).toBe("urn:oncely:problem:missing-key");
      expect(runs.get("strict-inherits") ?? 0).toBe(before);
      expect((await post(app, "/strict/overrides")).status).toBe(201);
      const key = newKey();
      await post(app, "/strict/inherits", key);
      expect((await post(app, "/strict/inherits", key)).headers.get("idempotent-replayed")).toBe("true");
      expect(runs.get("strict-inherits")).toBe(before + 1);
    });

    it("stores what Nest serialised from a returned object (@HttpCode, @Header, other interceptors) and replays it", async () => {
      const key = newKey();
      const before = runs.get("serialised") ?? 0;
      const first = await post(app, "/serialised", key, { amount: 7 });
      const firstBody = await first.text();
      expect(first.status).toBe(202);
      expect(JSON.parse(firstBody)).toEqual({
        data: { id: `ch_${before + 1}`, amount: 7, nested: { ok: true, list: [1, 2] } },
      });
      const retry = await post(app, "/serialised", key, { amount: 7 });
      expect(retry.status).toBe(202);
      expect(retry.headers.get("idempotent-replayed")).toBe("true");
      expect(retry.headers.get("content-type")).toBe(first.headers.get("content-type"));
      expect(retry.headers.get("x-route")).toBe("serialised");
      expect(await retry.text()).toBe(firstBody);
      expect(runs.get("serialised")).toBe(before + 1);
    });

    it("stores and replays what a handler sent itself through @Res()", async () => {
      const key = newKey();
      const before = runs.get("with-res") ?? 0;
      const first = await post(app, "/with-res", key);
      const firstBody = await first.text();
      expect(first.status).toBe(201);
      expect(JSON.parse(firstBody)).toEqual({ n: before + 1, via: "@Res" });
      const retry = await post(app, "/with-res", key);
      expect(retry.headers.get("idempotent-replayed")).toBe("true");
      expect(await retry.text()).toBe(firstBody);
      expect(runs.get("with-res")).toBe(before + 1);
    });

    it("replays a @HttpCode(204) route, and nothing Nest does after a direct answer fails or reaches the filters", async () => {
      const key = newKey();
      const filteredBefore = filtered.length;
      const before = runs.get("empty") ?? 0;
      expect((await post(app, "/empty", key)).status).toBe(204);
      const retry = await post(app, "/empty", key);
      expect(retry.status).toBe(204);
      expect(retry.headers.get("idempotent-replayed")).toBe("true");
      const mismatch = await post(app, "/empty", key, { amount: 1 });
      expect(mismatch.status).toBe(422);
      expect(runs.get("empty")).toBe(before + 1);
      expect(filtered.length).toBe(filteredBefore);
    });

    it("reports the status it answered to what watches the response finish (access logs)", async () => {
      const key = newKey();
      await post(app, "/guarded", key, { amount: 1 });
      const replay = await post(app, "/guarded", key, { amount: 1 });
      const mismatch = await post(app, "/guarded", key, { amount: 2 });
      expect([replay.status, mismatch.status]).toEqual([201, 422]);
      await until(() => finished.filter((f) => f.key === key).length === 3);
      expect(finished.filter((f) => f.key === key).map((f) => f.status)).toEqual([201, 201, 422]);
    });

    it.runIf(platform === "fastify")("leaves Fastify nothing to warn about after a direct answer", async () => {
      const key = newKey();
      await post(app, "/guarded", key);
      expect((await post(app, "/guarded", key)).headers.get("idempotent-replayed")).toBe("true");
      expect((await post(app, "/guarded", key, { amount: 2 })).status).toBe(422);
      expect(logs.filter((line) => /already sent|FST_ERR_REP_ALREADY_SENT/i.test(line))).toEqual([]);
    });

    it("releases the key when the handler throws an HttpException: the retry runs again", async () => {
      const key = newKey();
      const before = runs.get("declines") ?? 0;
      const declined = await post(app, "/declines", key);
      expect(declined.status).toBe(402);
      expect(await declined.json()).toEqual({ code: "card_declined" });
      expect(events.findLast((e) => e.key === key)?.type).toBe("released");
      const retry = await post(app, "/declines", key);
      expect(retry.status).toBe(201);
      expect(retry.headers.get("idempotent-replayed")).toBeNull();
      expect(await retry.json()).toEqual({ data: { declined: "once" } });
      expect((await post(app, "/declines", key)).headers.get("idempotent-replayed")).toBe("true");
      expect(runs.get("declines")).toBe(before + 2);
    });

    it("hands the handler its context through @IdempotencyCtx() and req.idempotency", async () => {
      const key = newKey();
      const response = await post(app, "/context", key);
      expect(await response.json()).toEqual({ data: { key, same: true, derived: deriveKey({ key }, "psp") } });
      const unguarded = await post(app, "/context");
      expect(await unguarded.json()).toEqual({ data: { key: null, same: true, derived: null } });
    });

    it("releases the key when Nest drops a handler's Observable because the client went away", async () => {
      const key = newKey();
      observableGate = gate();
      const before = runs.get("observable") ?? 0;
      const controller = new AbortController();
      const abandoned = post(app, "/observable", key, undefined, { signal: controller.signal }).catch(() => "aborted");
      await until(() => runs.get("observable") === before + 1);
      controller.abort();
      expect(await abandoned).toBe("aborted");
      await until(() => events.some((e) => e.key === key && e.type === "released"));
      observableGate.open();
      const retry = await post(app, "/observable", key);
      expect(retry.status).toBe(201);
      expect(await retry.json()).toEqual({ data: { n: before + 2 } });
    });
  });

  it('guards every POST and PATCH route with routes: "all", except those marked @Idempotent(false)', async () => {
    const app = await startNest(
      platform,
      appModule({
        imports: [OncelyModule.forRoot({ store: new MemoryStore() }, { routes: "all" })],
        controllers: [UndecoratedController],
      }),
    );
    try {
      const key = newKey();
      const before = { undecorated: runs.get("undecorated") ?? 0, exempt: runs.get("exempt") ?? 0 };
      await post(app, "/all/undecorated", key);
      expect((await post(app, "/all/undecorated", key)).headers.get("idempotent-replayed")).toBe("true");
      await post(app, "/all/exempt", key);
      await post(app, "/all/exempt", key);
      expect(runs.get("undecorated")).toBe(before.undecorated + 1);
      expect(runs.get("exempt")).toBe(before.exempt + 2);
    } finally {
      await app.close();
    }
  });

  it("with applyGlobally: false, guards marked handlers and, in routes: all, only where @UseInterceptors applies it", async () => {
    @Controller("local")
    @UseInterceptors(IdempotencyInterceptor)
    class LocalController {
      @Post()
      create() {
        return { n: count(`local-${platform}`) };
      }
    }
    const app = await startNest(
      platform,
      appModule({
        imports: [OncelyModule.forRoot({ store: new MemoryStore() }, { applyGlobally: false, routes: "all" })],
        controllers: [LocalController, ChargesController],
      }),
    );
    try {
      const key = newKey();
      await post(app, "/local", key);
      expect((await post(app, "/local", key)).headers.get("idempotent-replayed")).toBe("true");
      expect(runs.get(`local-${platform}`)).toBe(1);
      // @Idempotent() carries the interceptor: a marked handler is guarded without @UseInterceptors.
      const guardedBefore = runs.get("guarded") ?? 0;
      const guardedKey = newKey();
      await post(app, "/guarded", guardedKey);
      expect((await post(app, "/guarded", guardedKey)).headers.get("idempotent-replayed")).toBe("true");
      expect(runs.get("guarded")).toBe(guardedBefore + 1);
      // Neither marked nor under the interceptor: not guarded, even with routes: "all".
      const plainBefore = runs.get("plain") ?? 0;
      await post(app, "/plain", key);
      await post(app, "/plain", key);
      expect(runs.get("plain")).toBe(plainBefore + 2);
    } finally {
      await app.close();
    }
  });

  it("claims once when the interceptor is applied both globally and on the controller", async () => {
    @Controller("twice")
    @UseInterceptors(IdempotencyInterceptor)
    class TwiceController {
      @Post()
      @Idempotent()
      create() {
        return { n: count(`twice-${platform}`) };
      }
    }
    const app = await startNest(
      platform,
      appModule({ imports: [OncelyModule.forRoot({ store: new MemoryStore() })], controllers: [TwiceController] }),
    );
    try {
      const key = newKey();
      expect((await post(app, "/twice", key)).status).toBe(201);
      expect((await post(app, "/twice", key)).headers.get("idempotent-replayed")).toBe("true");
      expect(runs.get(`twice-${platform}`)).toBe(1);
    } finally {
      await app.close();
    }
  });

  it("builds the instance with forRootAsync from injected providers, and closes the store it owns on shutdown", async () => {
    const STORE = "test:store";
    const store = new MemoryStore();
    let closed = 0;
    const close = store.close.bind(store);
    store.close = async () => {
      closed++;
      await close();
    };
    @Module({ providers: [{ provide: STORE, useValue: store }], exports: [STORE] })
    class StorageModule {}
    const factoryArgs: unknown[] = [];
    const app = await startNest(
      platform,
      appModule({
        imports: [
          OncelyModule.forRootAsync({
            imports: [StorageModule],
            inject: [STORE],
            useFactory: async (injected: Store) => {
              factoryArgs.push(injected);
              return { store: injected, required: true };
            },
          }),
        ],
        controllers: [ChargesController],
      }),
    );
    expect(factoryArgs).toEqual([store]);
    const key = newKey();
    await post(app, "/guarded", key);
    expect((await post(app, "/guarded", key)).headers.get("idempotent-replayed")).toBe("true");
    expect((await post(app, "/guarded")).status).toBe(400); // the factory's `required: true` applies
    expect((await store.list()).records).toHaveLength(1);
    await app.close();
    expect(closed).toBe(1);
  });

  it("leaves an instance passed to forRoot open on shutdown: the app owns it", async () => {
    const store = new MemoryStore();
    let closed = 0;
    store.close = async () => {
      closed++;
    };
    const app = await startNest(
      platform,
      appModule({ imports: [OncelyModule.forRoot(createIdempotency({ store }))], controllers: [ChargesController] }),
    );
    await app.close();
    expect(closed).toBe(0);
  });

  it("stores the outcome before a @Res() response goes out, even when the store is slow", async () => {
    const memory = new MemoryStore();
    const slowStore = new Proxy(memory, {
      get(target, name) {
        if (name === "complete") {
          return async (...args: Parameters<Store["complete"]>) => {
            await new Promise((resolve) => setTimeout(resolve, 150));
            return target.complete(...args);
          };
        }
        const value = Reflect.get(target, name);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const idem: Idempotency = createIdempotency({ store: slowStore });
    const app = await startNest(
      platform,
      appModule({ imports: [OncelyModule.forRoot(idem)], controllers: [ChargesController] }),
    );
    try {
      const key = newKey();
      const before = runs.get("with-res") ?? 0;
      const first = await post(app, "/with-res", key);
      expect(first.status).toBe(201);
      expect(await first.json()).toEqual({ n: before + 1, via: "@Res" });
      const retry = await post(app, "/with-res", key);
      expect(retry.headers.get("idempotent-replayed")).toBe("true");
      expect(await retry.json()).toEqual({ n: before + 1, via: "@Res" });
    } finally {
      await app.close();
    }
  });

  it("with rawBody: true, fingerprints the exact bytes Nest kept", async () => {
    const seen: unknown[] = [];
    @Controller("raw")
    class RawController {
      @Post()
      @Idempotent({
        fingerprint: (request) => {
          seen.push(request.body === undefined ? request.parsedBody : Buffer.from(request.body).toString());
          return "constant";
        },
      })
      create(@Body() body: unknown) {
        return body;
      }
    }
    const module = appModule({
      imports: [OncelyModule.forRoot({ store: new MemoryStore() })],
      controllers: [RawController],
    });
    for (const rawBody of [true, false]) {
      const app = await startNest(platform, module, { rawBody });
      try {
        await post(app, "/raw", newKey(), '{ "b": 1,  "a": 2 }');
      } finally {
        await app.close();
      }
    }
    expect(seen).toEqual(['{ "b": 1,  "a": 2 }', { b: 1, a: 2 }]);
  });
});

describe("oncely/nest setup errors", () => {
  it("refuses invalid route options when the class is defined", () => {
    expect(() => Idempotent({ ttl: "soon" as never })).toThrow(TypeError);
    expect(() => Idempotent({ nope: true } as never)).toThrow(/Unknown idempotency option `nope`/);
  });

  it("refuses invalid module settings", () => {
    const idem = createIdempotency({ store: new MemoryStore() });
    expect(() => OncelyModule.forRoot(idem, { routes: "some" as never })).toThrow(/`routes`/);
    expect(() => OncelyModule.forRoot(idem, { global: true } as never)).toThrow(
      /Unknown OncelyModule setting `global`/,
    );
    expect(() => OncelyModule.forRootAsync({} as never)).toThrow(/`useFactory`/);
  });
});
