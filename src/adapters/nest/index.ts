/**
 * The NestJS module, interceptor and `@Idempotent()` decorator (Express and Fastify platforms).
 *
 * @module oncely/nest
 */
import {
  applyDecorators,
  type CallHandler,
  createParamDecorator,
  type DynamicModule,
  type ExecutionContext,
  Inject,
  Injectable,
  type InjectionToken,
  Module,
  type ModuleMetadata,
  type NestInterceptor,
  type OnApplicationShutdown,
  type OnModuleInit,
  Optional,
  type OptionalFactoryDependency,
  type Provider,
  SetMetadata,
  UseInterceptors,
} from "@nestjs/common";
import { APP_INTERCEPTOR, DiscoveryModule, DiscoveryService, MetadataScanner, Reflector } from "@nestjs/core";
import { catchError, from, mergeMap, type Observable, of, tap, throwError } from "rxjs";
import type { IdempotencyContext } from "../../core/context.js";
import { createIdempotency, type Idempotency, type RouteGuard } from "../../core/engine.js";
import type { Decision, StreamingDecision } from "../../core/guard.js";
import {
  type IdempotencyOptions,
  type ResolvedRouteOptions,
  type RouteOptions,
  resolveRouteOptions,
} from "../../core/options.js";
import type { Settle } from "../shared/node-response.js";
import { type NestHttpExchange, nestHttpExchange } from "./platform.js";
import { checkStreamingHandler } from "./streaming.js";

declare global {
  namespace Express {
    interface Request {
      /** The request's idempotency context, set by `oncely/express` or `oncely/nest` when the handler runs guarded. */
      idempotency?: IdempotencyContext;
    }
  }
}

/**
 * The injection token of the app's `Idempotency` instance, for `idem.run()` in services.
 * @example constructor(@Inject(IDEMPOTENCY) private readonly idem: Idempotency) {}
 */
export const IDEMPOTENCY = "oncely:Idempotency";
const SETTINGS = "oncely:NestSettings";
const HOLDER = "oncely:IdempotencyHolder";
const ROUTE_OPTIONS = "oncely:routeOptions";

/** How the module applies oncely to the app's routes. */
export interface OncelyNestSettings {
  /**
   * Which routes are guarded. `"decorated"`: only handlers (or whole controllers) marked `@Idempotent()`.
   * `"all"`: every HTTP route whose method is in `methods` (POST and PATCH by default); `@Idempotent(false)` exempts
   * a handler or controller.
   * @default "decorated"
   */
  routes?: "decorated" | "all";
  /**
   * Registers `IdempotencyInterceptor` for the whole app. With `false`, handlers marked `@Idempotent()` are still
   * guarded (the mark applies the interceptor); apply it elsewhere with `@UseInterceptors(IdempotencyInterceptor)`
   * (the `routes` rule still decides which handlers it guards).
   * @default true
   */
  applyGlobally?: boolean;
}

/** `OncelyModule.forRootAsync` options: a factory for the instance (or its options), with its imports and inject. */
export interface OncelyModuleAsyncOptions extends OncelyNestSettings, Pick<ModuleMetadata, "imports"> {
  /** Providers passed to `useFactory`, e.g. a config service. */
  inject?: (InjectionToken | OptionalFactoryDependency)[];
  /** Returns an `Idempotency` instance (the app closes it) or the options to create one (the module closes it). */
  // biome-ignore lint/suspicious/noExplicitAny: the injected providers' types are the caller's to declare.
  useFactory: (...args: any[]) => Idempotency | IdempotencyOptions | Promise<Idempotency | IdempotencyOptions>;
}

interface Holder {
  idem: Idempotency;
  /** Created here from options, so closed here on shutdown; an instance passed in belongs to the app. */
  owned: boolean;
}

type ResolvedSettings = Required<OncelyNestSettings>;

/** What `@Idempotent()` stores on a handler or controller: its route options, or `false` to exempt it. */
type RouteMark = RouteOptions | false;

/**
 * Marks a handler (or every handler of a controller) as guarded, with optional per-route options. Options on a
 * handler override the controller's; `@Idempotent(false)` exempts a handler when the module guards all routes.
 * Options are validated here, when the class is defined. The mark applies `IdempotencyInterceptor` itself, so a marked
 * handler is guarded whether or not the module applies it globally, and the app refuses to start when `OncelyModule`
 * is not imported.
 *
 * @example
 * @Post("charges")
 * @Idempotent({ required: true, ttl: "1h" })
 * create(@Body() body: CreateCharge, @IdempotencyCtx() idempotency?: IdempotencyContext) { ... }
 *
 * @throws {TypeError} when an option is unknown or invalid (the message names it)
 */
export function Idempotent(options: RouteMark = {}): ClassDecorator & MethodDecorator {
  if (options === false) return SetMetadata(ROUTE_OPTIONS, options);
  resolveRouteOptions(options, routeDefaults());
  // Applied globally as well, the interceptor still claims once (see `guarded`).
  return applyDecorators(SetMetadata(ROUTE_OPTIONS, options), UseInterceptors(IdempotencyInterceptor));
}

let defaults: ResolvedRouteOptions | undefined;
function routeDefaults(): ResolvedRouteOptions {
  defaults ??= resolveRouteOptions({});
  return defaults;
}

/**
 * The request's `IdempotencyContext` as a handler parameter (`undefined` when the request is not guarded: unguarded
 * route or method, or no key). The same object is `req.idempotency` (Express) / `request.idempotency` (Fastify).
 *
 * @example
 * create(@Body() body: CreateCharge, @IdempotencyCtx() idempotency?: IdempotencyContext) {
 *   return psp.charge(body, { idempotencyKey: idempotency?.deriveKey("charge") });
 * }
 */
export const IdempotencyCtx = createParamDecorator(
  (_data: unknown, context: ExecutionContext): IdempotencyContext | undefined =>
    context.switchToHttp().getRequest<{ idempotency?: IdempotencyContext }>().idempotency,
);

/** Requests a guard has taken on, so an interceptor applied twice (globally and per controller) claims once. */
const guarded = new WeakSet<object>();

/**
 * Guards the routes the module's `routes` setting selects, on Nest's Express and Fastify platforms. Replays and
 * oncely's own answers (400, 409, 413, 422, 429, 503) are written directly and the handler does not run; a handler's
 * response is stored as the client receives it (after Nest's serialisation and every other interceptor), before it
 * is sent. A handler that throws, `HttpException` included, releases the key: a retry runs it again.
 *
 * Registered globally by `OncelyModule` unless `applyGlobally: false`; then use `@UseInterceptors(IdempotencyInterceptor)`.
 */
@Injectable()
export class IdempotencyInterceptor implements NestInterceptor {
  /** One validated guard per (controller, handler), made on the first request; `null` for routes not guarded. */
  readonly #guards = new WeakMap<object, WeakMap<object, RouteGuard<StreamingDecision> | null>>();

  private readonly idem: Idempotency;
  private readonly settings: ResolvedSettings;

  // Optional so that a missing module is reported in words rather than as Nest's unresolved dependency.
  constructor(
    @Optional() @Inject(IDEMPOTENCY) idem: Idempotency | undefined,
    @Optional() @Inject(SETTINGS) settings: ResolvedSettings | undefined,
    @Inject(Reflector) private readonly reflector: Reflector,
  ) {
    if (!idem || !settings) {
      throw new TypeError(
        "oncely: OncelyModule is not imported, so the routes marked @Idempotent() (or given IdempotencyInterceptor) " +
          "would run unguarded. Add OncelyModule.forRoot(idem) (or forRootAsync) to the root module's imports.",
      );
    }
    this.idem = idem;
    this.settings = settings;
  }

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== "http") return next.handle();
    const guard = this.#guardFor(context);
    if (!guard) return next.handle();
    const http = context.switchToHttp();
    const exchange = nestHttpExchange(http.getRequest(), http.getResponse());
    if (guarded.has(exchange.incoming)) return next.handle();
    guarded.add(exchange.incoming);
    return from(guard.begin(exchange.input())).pipe(
      mergeMap((decision) => {
        if (decision.action === "pass") return next.handle();
        if (decision.action === "respond") {
          exchange.answer(decision.response);
          return of(undefined);
        }
        if (decision.action === "stream") {
          exchange.answerStream(decision.response);
          return of(undefined);
        }
        return decision.stream ? runStreaming(exchange, decision, next) : runGuarded(exchange, decision, next);
      }),
    );
  }

  #guardFor(context: ExecutionContext): RouteGuard<StreamingDecision> | null {
    const controller = context.getClass();
    const handler = context.getHandler();
    let byHandler = this.#guards.get(controller);
    if (!byHandler) {
      byHandler = new WeakMap();
      this.#guards.set(controller, byHandler);
    }
    let guard = byHandler.get(handler);
    if (guard === undefined) {
      const onController = this.reflector.get<RouteMark | undefined>(ROUTE_OPTIONS, controller);
      const onHandler = this.reflector.get<RouteMark | undefined>(ROUTE_OPTIONS, handler);
      guard = routeGuard(this.idem, this.settings.routes, onController, onHandler);
      byHandler.set(handler, guard);
    }
    return guard;
  }
}

function routeGuard(
  idem: Idempotency,
  routes: ResolvedSettings["routes"],
  onController: RouteMark | undefined,
  onHandler: RouteMark | undefined,
): RouteGuard<StreamingDecision> | null {
  if (onHandler === false || (onController === false && onHandler === undefined)) return null;
  // Streams only on the handlers `checkStreamingRoutes` let through at startup: those that write through @Res().
  if (onHandler === undefined && onController === undefined) {
    return routes === "all" ? idem.route(undefined, { streams: true }) : null;
  }
  return idem.route({ ...(onController || {}), ...(onHandler || {}) }, { streams: true });
}

/** Runs the handler under the claim: its response is stored (or the claim released) before it goes out. */
function runGuarded(
  exchange: NestHttpExchange,
  decision: Extract<Decision, { action: "execute" }>,
  next: CallHandler,
): Observable<unknown> {
  let outcome: ReturnType<Settle> | undefined;
  const giveUp = (error: unknown) => {
    outcome ??= decision.abandon(error).then(() => undefined);
  };
  exchange.expose(decision.context);
  for (const [name, value] of decision.headers) exchange.outgoing.setHeader(name, value);
  // The error response Nest's exception filter sends waits for the release, so an immediate retry runs again.
  exchange.capture((captured) => {
    outcome ??= decision.finish(captured);
    return outcome;
  });
  return next.handle().pipe(
    catchError((error: unknown) => {
      giveUp(error);
      return throwError(() => error);
    }),
    // Nest drops a handler's Observable when the client goes away and sends nothing: without this the claim would be
    // renewed for as long as the process lives.
    tap({ unsubscribe: () => giveUp(new Error("Nest dropped the response: the client went away")) }),
  );
}

/**
 * Runs a streaming route's handler, which writes its response itself (`@Res()`): each write goes out at once and is
 * recorded, to its end, whether or not the client is still there; see docs/streaming.md.
 */
function runStreaming(
  exchange: NestHttpExchange,
  decision: Extract<Decision, { action: "execute" }>,
  next: CallHandler,
): Observable<unknown> {
  const capture = decision.stream!;
  exchange.expose(decision.context);
  for (const [name, value] of decision.headers) exchange.outgoing.setHeader(name, value);
  const stop = exchange.tee(capture);
  return next.handle().pipe(
    catchError((error: unknown) => {
      stop();
      return from(capture.fail(error)).pipe(
        mergeMap(() => {
          // Begun already: cut off, so the client sees it did not end; otherwise Nest's exception filter answers.
          if (exchange.outgoing.headersSent) exchange.outgoing.destroy();
          return throwError(() => error);
        }),
      );
    }),
  );
}

/**
 * Provides the app's `Idempotency` instance (token `IDEMPOTENCY`) to every module and, unless `applyGlobally` is
 * false, registers `IdempotencyInterceptor` for every route. Which routes are guarded: see `OncelyNestSettings.routes`.
 *
 * @example
 * @Module({ imports: [OncelyModule.forRoot({ store: new MemoryStore() })], controllers: [ChargesController] })
 * export class AppModule {}
 */
@Module({})
export class OncelyModule implements OnModuleInit, OnApplicationShutdown {
  constructor(
    @Inject(HOLDER) private readonly holder: Holder,
    @Inject(SETTINGS) private readonly settings: ResolvedSettings,
    @Inject(DiscoveryService) private readonly discovery: DiscoveryService,
    @Inject(MetadataScanner) private readonly scanner: MetadataScanner,
    @Inject(Reflector) private readonly reflector: Reflector,
  ) {}

  /**
   * Refuses, before the app serves, a streaming route (`stream: true`) whose handler oncely cannot stream.
   * @throws {TypeError} naming the handler
   */
  onModuleInit(): void {
    const instanceStreams = this.holder.idem.options.stream === true;
    for (const wrapper of this.discovery.getControllers()) {
      const controller = wrapper.metatype as (abstract new (...args: never[]) => unknown) | null;
      if (!controller?.prototype) continue;
      const onController = this.reflector.get<RouteMark | undefined>(ROUTE_OPTIONS, controller);
      for (const name of this.scanner.getAllMethodNames(controller.prototype)) {
        const handler = (controller.prototype as Record<string, object>)[name]!;
        const onHandler = this.reflector.get<RouteMark | undefined>(ROUTE_OPTIONS, handler as never);
        checkStreamingHandler(
          { controller, name, handler, onController, onHandler },
          this.settings.routes,
          instanceStreams,
        );
      }
    }
  }

  /**
   * @param idemOrOptions an `Idempotency` instance (the app owns and closes it) or options to create one (closed when
   *   the app shuts down)
   * @throws {TypeError} when an option or setting is invalid
   */
  static forRoot(idemOrOptions: Idempotency | IdempotencyOptions, settings: OncelyNestSettings = {}): DynamicModule {
    return oncelyModule({ provide: HOLDER, useValue: hold(idemOrOptions) }, [], settings);
  }

  /**
   * Like `forRoot`, with the instance (or its options) built by a factory that gets injected providers.
   * @example
   * OncelyModule.forRootAsync({
   *   imports: [ConfigModule],
   *   inject: [ConfigService],
   *   useFactory: (config: ConfigService) => ({ store: new RedisStore({ url: config.get("REDIS_URL") }) }),
   * })
   */
  static forRootAsync(options: OncelyModuleAsyncOptions): DynamicModule {
    const { imports = [], inject = [], useFactory, ...settings } = options;
    if (typeof useFactory !== "function") throw new TypeError("Expected `useFactory` to be a function");
    const holder: Provider = {
      provide: HOLDER,
      inject,
      useFactory: async (...args: unknown[]) => hold(await useFactory(...args)),
    };
    return oncelyModule(holder, imports, settings);
  }

  /** Closes the engine the module created (an engine you passed in stays open). */
  async onApplicationShutdown(): Promise<void> {
    if (this.holder.owned) await this.holder.idem.close();
  }
}

function oncelyModule(
  holder: Provider,
  imports: NonNullable<ModuleMetadata["imports"]>,
  settings: OncelyNestSettings,
): DynamicModule {
  const resolved = resolveSettings(settings);
  return {
    module: OncelyModule,
    global: true,
    imports: [DiscoveryModule, ...imports],
    providers: [
      holder,
      { provide: IDEMPOTENCY, inject: [HOLDER], useFactory: (held: Holder) => held.idem },
      { provide: SETTINGS, useValue: resolved },
      ...(resolved.applyGlobally ? [{ provide: APP_INTERCEPTOR, useClass: IdempotencyInterceptor }] : []),
    ],
    exports: [IDEMPOTENCY, SETTINGS],
  };
}

function hold(config: Idempotency | IdempotencyOptions): Holder {
  const candidate = config as Partial<Idempotency> | undefined;
  if (typeof candidate?.route === "function" && typeof candidate.run === "function") {
    return { idem: config as Idempotency, owned: false };
  }
  return { idem: createIdempotency(config as IdempotencyOptions), owned: true };
}

function resolveSettings(settings: OncelyNestSettings): ResolvedSettings {
  for (const name of Object.keys(settings)) {
    if (name !== "routes" && name !== "applyGlobally") throw new TypeError(`Unknown OncelyModule setting \`${name}\``);
  }
  const { routes = "decorated", applyGlobally = true } = settings;
  if (routes !== "decorated" && routes !== "all") throw new TypeError('Expected `routes` to be "decorated" or "all"');
  if (typeof applyGlobally !== "boolean") throw new TypeError("Expected `applyGlobally` to be true or false");
  return { routes, applyGlobally };
}
