import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { IdempotencyContext } from "../../core/context.js";
import type { GuardInput } from "../../core/guard.js";
import type { ResponseData, StreamedResponse } from "../../core/response.js";
import type { StreamCapture } from "../../core/stream-recorder.js";
import { nodeInput } from "../node/index.js";
import { captureNodeResponse, type Settle, sendNodeResponse } from "../shared/node-response.js";
import { sendNodeStream, teeNodeResponse } from "../shared/node-stream.js";
import { withParsedBody } from "../shared/parsed-body.js";

/**
 * What the Nest integration needs from the HTTP platform under Nest (Express or Fastify): the engine's view of the
 * request, a place for the context, a way to answer directly, and a way to capture what Nest sends.
 */
export interface NestHttpExchange {
  /** The platform's node:http request; marks a request as handled by oncely, whoever applied the interceptor. */
  readonly incoming: IncomingMessage;
  /** The platform's node:http response, for headers oncely adds to the handler's answer. */
  readonly outgoing: ServerResponse;
  /** The engine's view of the request; a body Nest already parsed is used as parsed, or as raw bytes (`rawBody`). */
  input(): GuardInput;
  /** Makes the context reachable as `req.idempotency` (Express `req`, Fastify `request`). */
  expose(context: IdempotencyContext): void;
  /** Writes a replay or a problem directly, and makes what Nest (or another interceptor) sends afterwards a no-op. */
  answer(response: ResponseData): void;
  /** Holds back what Nest sends until `settle` has stored (or released) it; see `captureNodeResponse`. */
  capture(settle: Settle): void;
  /** Answers with a stream a retry follows or replays, as `answer` does with a response. */
  answerStream(response: StreamedResponse): void;
  /**
   * Sends what a streaming route's handler writes to the response itself as it is written, feeding `capture`; see
   * `teeNodeResponse`. Returns `stop`.
   */
  tee(capture: StreamCapture): () => void;
}

/** The parts of a Fastify request and reply that are used here (typed locally so Fastify stays optional). */
interface FastifyRequestLike {
  raw: IncomingMessage;
  body?: unknown;
  rawBody?: unknown;
  idempotency?: IdempotencyContext;
}
interface FastifyReplyLike {
  raw: ServerResponse;
  hijack(): unknown;
  getHeaders(): OutgoingHttpHeaders;
}
/** An Express request as Nest hands it over (an IncomingMessage with Express's additions). */
interface ExpressRequestLike extends IncomingMessage {
  originalUrl?: string;
  body?: unknown;
  rawBody?: unknown;
  idempotency?: IdempotencyContext;
}

/** The exchange for the request and response Nest's `switchToHttp()` returns, on either platform. */
export function nestHttpExchange(request: unknown, response: unknown): NestHttpExchange {
  return isFastifyReply(response)
    ? fastifyExchange(request as FastifyRequestLike, response)
    : expressExchange(request as ExpressRequestLike, response as ServerResponse);
}

function isFastifyReply(response: unknown): response is FastifyReplyLike {
  const reply = response as Partial<FastifyReplyLike> | null;
  return typeof reply?.hijack === "function" && typeof reply.raw === "object" && reply.raw !== null;
}

function expressExchange(req: ExpressRequestLike, res: ServerResponse): NestHttpExchange {
  return {
    incoming: req,
    outgoing: res,
    input: () => parsedInput(req, req, req.originalUrl ?? req.url, req.body, req.rawBody),
    expose: (context) => {
      req.idempotency = context;
    },
    answer(response) {
      sendNodeResponse(res, response);
      // Nest then calls `res.status(routeStatus)` and `res.send(result)`: the first would make the status loggers see
      // on 'finish' wrong, the second throws once a route status (204) makes Express touch headers already sent.
      silence(res, ["status", "send", "json", "sendStatus"]);
    },
    capture: (settle) => captureNodeResponse(res, settle),
    answerStream(response) {
      void sendNodeStream(res, response);
      silence(res, ["status", "send", "json", "sendStatus"]);
    },
    tee: (capture) => teeNodeResponse(res, capture),
  };
}

function fastifyExchange(request: FastifyRequestLike, reply: FastifyReplyLike): NestHttpExchange {
  const raw = reply.raw;
  return {
    incoming: request.raw,
    outgoing: raw,
    input: () => parsedInput(request.raw, request, request.raw.url, request.body, request.rawBody),
    expose: (context) => {
      request.idempotency = context;
    },
    answer(response) {
      // Headers set through Fastify (by @fastify/cors, or Nest's @Header()) live on the reply, not on `raw` yet.
      for (const [name, value] of Object.entries(reply.getHeaders())) {
        if (value !== undefined) raw.setHeader(name, value);
      }
      reply.hijack();
      sendNodeResponse(raw, response);
      // Nest's reply.status()/send() afterwards would rewrite the status loggers read and log "already sent".
      silence(reply, ["code", "status", "send"]);
    },
    capture(settle) {
      captureNodeResponse(raw, (captured) => {
        // Fastify's send has done its part once it reaches `raw.end`. Nest 11 then waits for the response to finish;
        // a Nest that does not (after a @Res() handler) would let Fastify's own wrapper send an empty reply while the
        // outcome is still being stored. Hijacking tells Fastify the response is taken care of.
        reply.hijack();
        return settle(captured);
      });
    },
    answerStream(response) {
      for (const [name, value] of Object.entries(reply.getHeaders())) {
        if (value !== undefined) raw.setHeader(name, value);
      }
      reply.hijack();
      void sendNodeStream(raw, response);
      silence(reply, ["code", "status", "send"]);
    },
    tee(capture) {
      // The handler writes to `reply.raw` itself: Fastify must not answer once the handler's promise resolves.
      reply.hijack();
      return teeNodeResponse(raw, capture);
    },
  };
}

/**
 * Nest's body parser (Express's json/urlencoded, Fastify's content-type parsers) has usually consumed the stream by
 * the time an interceptor runs. The fingerprint then uses the exact bytes where Nest kept them (`rawBody: true`),
 * else the parsed body, canonicalised; the engine measures either against `maxRequestBytes`.
 */
function parsedInput(
  incoming: IncomingMessage,
  request: unknown,
  url: string | undefined,
  body: unknown,
  rawBody: unknown,
): GuardInput {
  const input: GuardInput = { ...nodeInput(incoming, url), raw: request };
  const consumed = incoming.readableEnded || (incoming.complete && !incoming.readable);
  if (!consumed) return input; // no parser ran: oncely reads the body (bounded) and leaves it readable
  return withParsedBody(input, rawBody instanceof Uint8Array ? rawBody : body);
}

/** Turns the named methods of one response object into no-ops that return it (own properties; the class is intact). */
function silence(target: object, methods: readonly string[]): void {
  const self = () => target;
  for (const method of methods) Object.defineProperty(target, method, { value: self, configurable: true });
}
