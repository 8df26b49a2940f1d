import { describe, expect, it } from "vitest";
import {
  createIdempotency,
  type IdempotencyEvent,
  MemoryStore,
  RecordTooLargeError,
  type Store,
  type StoredResponse,
} from "../../src/index.js";

// Found while building the DynamoDB store: a response over the backend's item limit made `complete` throw, the claim
// stayed in flight until its lease lapsed, and the retry then ran the handler a second time.
describe("regression: a response too large for the store's items", () => {
  it("is stored as not kept, so a retry gets 410 instead of running the handler again", async () => {
    const memory = new MemoryStore();
    // A real store with the item limit of a backend such as DynamoDB in front of it.
    const limited: Store = new Proxy(memory, {
      get(target, name) {
        if (name === "complete") {
          return (id: string, token: number, response: StoredResponse, ttl: number) => {
            if (response.body.byteLength > 10) {
              return Promise.reject(new RecordTooLargeError("memory", "complete", "item over 10 bytes"));
            }
            return target.complete(id, token, response, ttl);
          };
        }
        const value = Reflect.get(target, name, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const events: IdempotencyEvent[] = [];
    const guard = createIdempotency({ store: limited, onEvent: (e) => events.push(e) }).route();
    const request = {
      method: "POST",
      path: "/exports",
      query: "",
      headers: { "idempotency-key": "big-export" },
      body: new Uint8Array(),
      raw: undefined,
    };

    const first = await guard.begin(request);
    if (first.action !== "execute") throw new Error("should execute");
    await first.finish({ status: 200, headers: [], body: new Uint8Array(64) });
    expect(events.at(-1)).toMatchObject({ type: "executed", status: 200 });
    expect(events.at(-1)?.reason).toMatch(/too large to keep/);

    const retry = await guard.begin(request);
    if (retry.action !== "respond") throw new Error("the retry must not run the handler");
    expect(retry.response.status).toBe(410);
    expect(JSON.parse(new TextDecoder().decode(retry.response.body)).code).toBe("response_not_kept");
  });
});
