// What the documentation's examples take for granted: the app's own objects and helpers, declared once so that each
// example shows only what it is about. An example that declares one of these names itself shadows it. The oncely
// API the examples use is never declared here: it comes from the package's own types.

/** The engine most examples share, created as in the README's quick start. */
declare const idem: import("oncely").Idempotency;
/** The store the examples pass to `createIdempotency`. */
declare const store: import("oncely").Store;
/** The Express app of an example that does not show where it came from. */
declare const app: import("express").Express;
/** A pg pool, as an app that already uses PostgreSQL has. */
declare const pool: import("pg").Pool;

/** The account your authentication found for a request (a framework's own request, as `request.raw`). */
declare function accountOf(request: unknown): string;
/** The domain work the examples guard: a call to a payment provider and the like. */
declare function createCharge(
  body: unknown,
  options?: { idempotencyKey?: string | undefined },
): Promise<{ id: string }>;
declare function search(): Promise<unknown>;
declare function readJson(stream: AsyncIterable<unknown>): Promise<unknown>;
declare function validSignature(body: Buffer, signature: string | undefined): boolean;
declare function sendReceipt(event: unknown): Promise<{ messageId: string }>;
declare function logDecision(event: import("oncely").IdempotencyEvent): void;
declare function checkout(order: Order, step: import("oncely").Step): Promise<unknown>;

interface Order {
  id: string;
  account: string;
  customer: string;
  warehouse: string;
  email: string;
}
declare const order: Order;
declare const orderKey: string;
declare const orderId: string;
declare const cart: { id: string };
declare const sku: string;
declare const qty: number;

/** Services with an idempotency key of their own. */
declare const psp: {
  charges: { create(args: unknown, options: { idempotencyKey?: string | undefined }): Promise<{ id: string }> };
};
declare const args: unknown;
declare const mailer: {
  send(
    message: { to: string; template?: string; subject?: string; messageId?: string } | string,
    text?: string,
  ): Promise<void>;
};
declare const email: { send(message: { to: string; subject: string; idempotencyKey: string }): Promise<void> };
declare const stock: { reserve(sku: string, qty: number, options: { ref: string }): Promise<{ id: string }> };
declare const to: string;
declare const logger: Record<"info" | "warn" | "error", (fields: object, message: string) => void>;

/** A queue job, as BullMQ and similar queues hand it to a worker. */
interface Job<Payload> {
  id: string;
  payload: Payload;
}
interface InvoiceJob {
  customer: string;
  invoiceId: string;
}

/** A NestJS controller's request body. */
interface CreateCharge {
  amount: number;
  currency: string;
}

/** Packages the examples import that this repository does not install. */
declare module "@nestjs/config" {
  export class ConfigModule {}
  export class ConfigService {
    get(name: string): string | undefined;
  }
}
declare module "cors" {
  export default function cors(options: {
    allowedHeaders?: string[];
    exposedHeaders?: string[];
  }): import("express").RequestHandler;
}

/** The store a reader writes, in the page on writing one. */
declare const MyStore: new (options: { prefix: string }) => import("oncely").Store;

/** workerd's built-in module, as a Worker's examples import it (the Durable Object store's page). */
declare module "cloudflare:workers" {
  export abstract class DurableObject<Env = unknown> {
    protected ctx: unknown;
    protected env: Env;
    constructor(ctx: unknown, env: Env);
  }
}
