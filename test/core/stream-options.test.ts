import { describe, expect, it } from "vitest";
import { withIdempotency } from "../../src/adapters/node/index.js";
import { createIdempotency, MemoryStore, type Store } from "../../src/index.js";

/** A memory store without the stream capability: what a store that cannot record streams looks like to the engine. */
function storeWithoutStreams(): Store {
  const store = new MemoryStore();
  return new Proxy(store, {
    get(target, name) {
      if (name === "appendStream" || name === "readStream") return undefined;
      const value = Reflect.get(target, name);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

describe("stream: true is checked at registration", () => {
  it("is refused on a store that cannot record streams, never buffered instead", () => {
    const idem = createIdempotency({ store: storeWithoutStreams(), logger: false });
    expect(() => withIdempotency(idem, () => {}, { stream: true })).toThrow(
      /`stream: true` needs a store that records streams .* the memory store does not, and oncely never buffers a stream instead/,
    );
    expect(() => createIdempotency({ store: storeWithoutStreams(), stream: true })).toThrow(TypeError);
  });

  it("is refused by an adapter that cannot stream yet", () => {
    const idem = createIdempotency({ store: new MemoryStore(), logger: false });
    expect(() => idem.route({ stream: true })).toThrow(/needs an adapter that streams/);
  });

  it("joins by default, and a route that does not stream cannot join", () => {
    const idem = createIdempotency({ store: new MemoryStore(), logger: false });
    expect(idem.route({ stream: true }, { streams: true }).options.onInFlight).toBe("join");
    expect(idem.route({ stream: true, onInFlight: "reject" }, { streams: true }).options.onInFlight).toBe("reject");
    expect(() => idem.route({ onInFlight: "join" })).toThrow(/`onInFlight: "join"` needs `stream: true`/);
    expect(() => idem.route({ stream: "yes" as never })).toThrow(/Expected `stream` to be true or false/);
  });

  it("combines with encryption, and cannot be combined with transactional routes yet", () => {
    const key = new Uint8Array(32).fill(7);
    const sealed = createIdempotency({
      store: new MemoryStore(),
      encryption: { current: "k1", keys: { k1: key } },
      logger: false,
    });
    expect(sealed.route({ stream: true }, { streams: true }).options.stream).toBe(true);
    const idem = createIdempotency({ store: new MemoryStore(), logger: false });
    expect(() => idem.route({ stream: true, transactional: true }, { streams: true })).toThrow(
      /cannot be combined with `transactional`/,
    );
  });
});
