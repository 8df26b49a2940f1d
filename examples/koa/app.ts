import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import { pathToFileURL } from "node:url";
import Router from "@koa/router";
import Koa, { type Context } from "koa";
import { idempotency } from "../../src/adapters/koa/index.js";
import { createIdempotency, type IdempotencyEvent, MemoryStore, type Store } from "../../src/index.js";

interface Email {
  id: string;
  to: string;
  subject: string;
  sent: string;
}

/**
 * A tiny outbox on Koa: POST /emails "sends" an email and is guarded by oncely (a key is required there),
 * GET /emails lists what was sent, so a duplicate email would be plain to see.
 */
export function createOutboxApp(store: Store, onEvent?: (event: IdempotencyEvent) => void) {
  const idem = createIdempotency({ store, onEvent });
  const sent: Email[] = [];
  const app = new Koa();
  const router = new Router();

  router.post("/emails", idempotency(idem, { required: true }), async (ctx) => {
    // No body parser in this example: oncely read the body for the fingerprint and left it readable.
    const { to, subject } = (await readJson(ctx)) as { to?: unknown; subject?: unknown };
    if (typeof to !== "string" || typeof subject !== "string") {
      ctx.status = 400;
      ctx.body = { error: "`to` and `subject` are required strings" };
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 300)); // the mail provider is slow
    const email: Email = { id: `em_${randomUUID().slice(0, 8)}`, to, subject, sent: new Date().toISOString() };
    sent.push(email);
    ctx.status = 202;
    ctx.body = { ...email, messageKey: ctx.state.idempotency?.deriveKey("mail-provider") };
  });
  router.get("/emails", (ctx) => {
    ctx.body = { count: sent.length, emails: sent };
  });
  app.use(router.routes());
  return { app, idem, sent };
}

async function readJson(ctx: Context): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of ctx.req) chunks.push(chunk as Buffer);
  try {
    return JSON.parse(Buffer.concat(chunks).toString());
  } catch {
    return {}; // answered 400 below
  }
}

// `npx tsx examples/koa/app.ts` serves it on port 3002.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const port = Number(process.env.PORT ?? 3002);
  const { app, idem } = createOutboxApp(new MemoryStore(), (event) => {
    console.log(`  [oncely] ${event.type.padEnd(9)} key=${event.key ?? "-"} status=${event.status ?? "-"}`);
  });
  await idem.ready(); // the startup check: a store that cannot be reached fails here, at boot
  createServer(app.callback()).listen(port, "127.0.0.1", () => {
    const url = `http://127.0.0.1:${port}`;
    const email = (key: string) =>
      `curl -i -X POST ${url}/emails -H 'Idempotency-Key: ${key}' -H 'Content-Type: application/json' -d '{"to":"ada@example.com","subject":"Welcome"}'`;
    console.log(`oncely + Koa: an outbox on ${url}

  ${email("welcome-ada")}    # 202, the email is sent
  ${email("welcome-ada")}    # the same 202 again, Idempotent-Replayed: true
  curl -s ${url}/emails    # one email
`);
  });
}
