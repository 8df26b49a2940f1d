import { randomUUID } from "node:crypto";
import { pathToFileURL } from "node:url";
import {
  BadRequestException,
  Body,
  Controller,
  type DynamicModule,
  Get,
  Inject,
  Injectable,
  Module,
  Post,
} from "@nestjs/common";
import { NestFactory } from "@nestjs/core";
import { ExpressAdapter } from "@nestjs/platform-express";
import { FastifyAdapter } from "@nestjs/platform-fastify";
import { IdempotencyCtx, Idempotent, OncelyModule } from "../../src/adapters/nest/index.js";
import { type IdempotencyContext, type IdempotencyEvent, MemoryStore, type Store } from "../../src/index.js";

interface Transfer {
  id: string;
  to: string;
  amount: number;
  /** The key our call to the bank would carry: the same on every retry of this transfer. */
  bankKey: string | undefined;
  created: string;
}

/** Stands in for the bank: every call moves money, so a duplicate transfer would show here. */
@Injectable()
export class Bank {
  readonly transfers: Transfer[] = [];

  async transfer(to: string, amount: number, bankKey: string | undefined): Promise<Transfer> {
    await new Promise((resolve) => setTimeout(resolve, 300)); // the bank is slow
    const transfer = { id: `tr_${randomUUID().slice(0, 8)}`, to, amount, bankKey, created: new Date().toISOString() };
    this.transfers.push(transfer);
    return transfer;
  }
}

@Controller("transfers")
class TransfersController {
  // @Inject(Bank) spelled out: tsx and vitest do not emit the decorator metadata Nest would read the type from.
  constructor(@Inject(Bank) private readonly bank: Bank) {}

  @Post()
  @Idempotent({ required: true })
  create(@Body() body: { to?: unknown; amount?: unknown }, @IdempotencyCtx() idempotency?: IdempotencyContext) {
    const { to, amount } = body ?? {};
    if (typeof to !== "string" || !Number.isInteger(amount) || (amount as number) <= 0) {
      // A thrown exception (HttpException included) stores nothing and releases the key: a retry runs again.
      throw new BadRequestException("`to` is a required string, `amount` a positive integer (cents)");
    }
    return this.bank.transfer(to, amount as number, idempotency?.deriveKey("bank"));
  }

  @Get()
  list() {
    return { count: this.bank.transfers.length, transfers: this.bank.transfers };
  }
}

@Module({})
class TransfersModule {
  static forRoot(store: Store, onEvent?: (event: IdempotencyEvent) => void): DynamicModule {
    return {
      module: TransfersModule,
      // Guards the handlers marked @Idempotent(); the module closes the instance it creates on app.close().
      imports: [OncelyModule.forRoot({ store, onEvent })],
      controllers: [TransfersController],
      providers: [Bank],
    };
  }
}

/**
 * A tiny transfers API on NestJS: POST /transfers is guarded by oncely (a key is required there), GET /transfers
 * lists what was sent, so a duplicate transfer would be plain to see. The same module runs on Nest's Express
 * platform (the default) and on its Fastify platform.
 */
export async function createTransfersApp(
  store: Store,
  options: { platform?: "express" | "fastify"; onEvent?: (event: IdempotencyEvent) => void } = {},
) {
  const adapter = options.platform === "fastify" ? new FastifyAdapter() : new ExpressAdapter();
  const app = await NestFactory.create(TransfersModule.forRoot(store, options.onEvent), adapter, {
    logger: ["error", "warn"],
  });
  return { app, bank: app.get(Bank) };
}

// `npx tsx examples/nestjs/app.ts` serves it on port 3004; add `--fastify` for Nest's Fastify platform.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const port = Number(process.env.PORT ?? 3004);
  const platform = process.argv.includes("--fastify") ? "fastify" : "express";
  const { app } = await createTransfersApp(new MemoryStore(), {
    platform,
    onEvent: (event) => {
      console.log(`  [oncely] ${event.type.padEnd(9)} key=${event.key ?? "-"} status=${event.status ?? "-"}`);
    },
  });
  app.enableShutdownHooks(); // Ctrl-C closes the app, and with it oncely's instance
  await app.listen(port, "127.0.0.1");
  const url = `http://127.0.0.1:${port}`;
  const transfer = (key: string, amount: number) =>
    `curl -i -X POST ${url}/transfers -H 'Idempotency-Key: ${key}' -H 'Content-Type: application/json' -d '{"to":"DE89 3704","amount":${amount}}'`;
  console.log(`oncely + NestJS (${platform} platform): a transfers API on ${url}

  ${transfer("rent-may", 1200)}    # 201, the money is sent
  ${transfer("rent-may", 1200)}    # the same 201 again, Idempotent-Replayed: true
  ${transfer("rent-may", 9900)}    # 422: the key was used for another transfer
  curl -s ${url}/transfers    # one transfer
`);
}
