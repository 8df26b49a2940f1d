import { PATH_METADATA, ROUTE_ARGS_METADATA, SSE_METADATA } from "@nestjs/common/constants.js";
import { RouteParamtypes } from "@nestjs/common/enums/route-paramtypes.enum.js";
import type { RouteOptions } from "../../core/options.js";

/**
 * Streaming routes (`stream: true`) on NestJS. A Nest handler that streams a response it produces over time (an AI
 * completion's events, a long export) writes it itself, through `@Res()`: `res.write()` as it goes, then `res.end()`
 * (Express), or the same on `reply.raw` (Fastify). oncely streams those: each write goes out at once and is recorded,
 * and the handler's writes are recorded to the end after its client left. A `StreamableFile` or an `@Sse()`
 * Observable is piped or subscribed by Nest, which stops reading it when the client leaves (the run a retry would
 * follow would stop there): those are refused when the app starts, not streamed half-way.
 */

/** `@Idempotent()` marks, as the module reads them: options, or `false` to exempt. */
type RouteMark = RouteOptions | false;

/** A route handler as the app declares it: its controller class and method name. */
export interface DeclaredHandler {
  controller: abstract new (...args: never[]) => unknown;
  name: string;
  handler: object;
  onController: RouteMark | undefined;
  onHandler: RouteMark | undefined;
}

/**
 * Throws a `TypeError` naming the handler when its route streams (its marks, or the instance's own `stream: true` on
 * a route guarded without a mark) and it is not a handler oncely can stream.
 */
export function checkStreamingHandler(
  declared: DeclaredHandler,
  routes: "decorated" | "all",
  instanceStreams: boolean,
): void {
  const { controller, name, handler, onController, onHandler } = declared;
  if (Reflect.getMetadata(PATH_METADATA, handler) === undefined) return; // not a route
  if (onHandler === false || (onController === false && onHandler === undefined)) return;
  const marked = onController !== undefined || onHandler !== undefined;
  if (!marked && routes !== "all") return;
  const stream = (onHandler || undefined)?.stream ?? (onController || undefined)?.stream ?? instanceStreams;
  if (!stream) return;
  const where = `${controller.name}.${name}`;
  if (Reflect.getMetadata(SSE_METADATA, handler)) {
    throw new TypeError(
      `oncely: ${where} is an @Sse() route with \`stream: true\`: Nest stops reading its Observable when the client leaves, so a retry could not follow the run; write the events through @Res() instead (res.write per event, res.end at the end)`,
    );
  }
  if (!writesResponse(controller, name)) {
    throw new TypeError(
      `oncely: ${where} has \`stream: true\` but does not take @Res(): on NestJS oncely streams a handler that writes its response itself (res.write as it goes, res.end at the end; on Fastify reply.raw); a StreamableFile or a returned value is not streamed`,
    );
  }
}

/** Whether the handler takes the platform's response (`@Res()` or `@Response()`) and so writes it itself. */
function writesResponse(controller: object, name: string): boolean {
  const args = (Reflect.getMetadata(ROUTE_ARGS_METADATA, controller, name) ?? {}) as Record<string, unknown>;
  return Object.keys(args).some((key) => key.split(":")[0] === String(RouteParamtypes.RESPONSE));
}
