// In your app: import { createIdempotency, MemoryStore } from "oncely" and { RedisStore } from "oncely/stores/redis".
import { createIdempotency, MemoryStore } from "../../../src/index.js";
import { RedisStore } from "../../../src/stores/redis/index.js";

/**
 * One instance per server process: created when a route module first imports it, shared by every request and route.
 *
 * Serverless (Vercel, Lambda, several `next start` processes): each instance has its own memory, so a retry that
 * lands on another instance would not find a MemoryStore's record. Give them a shared store there: Redis (below),
 * PostgreSQL (`new PostgresStore({ connectionString })`) or DynamoDB. The store connects lazily, on first use.
 */
export const idem = createIdempotency({
  store: process.env.REDIS_URL ? new RedisStore({ url: process.env.REDIS_URL }) : new MemoryStore(),
  // Keys are per account; in a real app this comes from the session or API key, not a bare header.
  scope: (request) => (request.headers["x-account"] as string | undefined) ?? "anonymous",
});
