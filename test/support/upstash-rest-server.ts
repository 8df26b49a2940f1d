/**
 * The Upstash REST test fixture (upstash-rest.ts) in a process of its own, for tests and benchmarks whose own event
 * loop must not serve it (the multi-process test's parent, a benchmark that measures its process's CPU). Forwards to
 * the Redis in `ONCELY_REDIS_URL` (the test Redis by default). Sends `{ url, token }` over IPC once listening; exits
 * when the parent disconnects.
 */
import { startUpstashRest } from "./upstash-rest.js";

const fixture = await startUpstashRest();
process.on("disconnect", () => {
  fixture.close().finally(() => process.exit(0));
});
process.send!({ url: fixture.url, token: fixture.token });
