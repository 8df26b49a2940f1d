import { describe, expect, it } from "vitest";
import { withIdempotency } from "../../src/adapters/fetch/index.js";
import { createIdempotency, MemoryStore } from "../../src/index.js";

// Found by the fuzz test (test/reliability/fuzz.test.ts): a chunked body over `maxRequestBytes` sent to a fetch
// handler got no answer at all. oncely read the body from a clone and awaited `cancel()` on the clone's reader once
// past the limit; a tee's branch only finishes cancelling when the other branch (the original, left unread for the
// handler) is cancelled too, so the 413 was never sent and the connection hung until the client gave up.
describe("regression: a streamed body over maxRequestBytes on the fetch adapter", () => {
  it("is answered 413 at once, without reading the rest", async () => {
    const idem = createIdempotency({ store: new MemoryStore() });
    let runs = 0;
    const handler = withIdempotency(
      idem,
      async () => {
        runs++;
        return new Response("ran", { status: 201 });
      },
      { maxRequestBytes: 1024 },
    );
    let pulled = 0;
    // A body that keeps coming, as a large upload does: 1 KiB per pull, far more than the limit.
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++;
        if (pulled > 1000) controller.close();
        else controller.enqueue(new Uint8Array(1024).fill(97));
      },
    });
    const request = new Request("http://127.0.0.1/uploads", {
      method: "POST",
      headers: { "idempotency-key": "big-upload", "content-type": "application/octet-stream" },
      body,
      duplex: "half",
    } as RequestInit);
    const answer = await Promise.race([
      handler(request),
      new Promise<"hung">((resolve) => setTimeout(() => resolve("hung"), 2000).unref()),
    ]);
    expect(answer).not.toBe("hung");
    expect((answer as Response).status).toBe(413);
    expect(runs).toBe(0);
    expect(pulled).toBeLessThan(1000);
    await idem.close();
  });
});
