import type { ClaimOptions, ClaimResult, StoredResponse, StreamStore } from "../core/store.js";
import type { StepSuiteContext } from "./step-suite.js";

/** The stream cases run inside the store suite with what the step cases get from it. */
export type StreamSuiteContext = StepSuiteContext;

/**
 * The conformance cases of recorded streams (`appendStream`, `readStream`): appends fenced by the token, entries kept
 * byte for byte and in order per run, the run's state read with them, and a follower's wait woken by the append.
 */
export function describeStreamCases(context: StreamSuiteContext): void {
  const { describe, it, expect } = context.test;
  const { lease, ttl, pass, slack } = context;
  const store = () => context.store() as StreamStore;
  const id = () => `streams-${crypto.randomUUID()}`;
  const options: ClaimOptions = { lease, ttl, meta: { key: "k", method: "POST", path: "/stream" } };
  // For cases that must not see the lease lapse or the entries expire on a slow or loaded backend.
  const long: ClaimOptions = { ...options, lease: 60_000, ttl: 120_000 };
  const claimed = (result: ClaimResult) => {
    expect(result.status).toBe("claimed");
    if (result.status !== "claimed") throw new Error("unreachable");
    return result.token;
  };
  const entry = (...bytes: number[]) => Uint8Array.from(bytes);
  const done: StoredResponse = { status: 200, headers: [], body: new Uint8Array([1]), kept: true };

  describe("streams", () => {
    it("appends in order and reads from any position, byte for byte, while the run is held", async () => {
      const key = id();
      const token = claimed(await store().claim(key, "fp", long));
      const large = Uint8Array.from({ length: 256 * 1024 }, (_, i) => (i * 7) % 256);
      expect(await store().appendStream(key, token, [entry(0x48, 0, 255), entry(0x43)], long.ttl)).toBe(true);
      expect(await store().appendStream(key, token, [large, entry(0x43, 13, 10, 0)], long.ttl)).toBe(true);
      const all = await store().readStream(key, token, 0, 0);
      expect(all.state).toBe("held");
      expect(all.entries).toHaveLength(4);
      // Compared byte by byte in a loop: a deep equality of 256 KiB took seconds, longer than a real lease.
      expect(sameBytes(all.entries[2]!, large)).toBe(true);
      expect([all.entries[0], all.entries[1], all.entries[3]]).toEqual([
        entry(0x48, 0, 255),
        entry(0x43),
        entry(0x43, 13, 10, 0),
      ]);
      expect((await store().readStream(key, token, 3, 0)).entries).toEqual([entry(0x43, 13, 10, 0)]);
      expect(await store().readStream(key, token, 4, 0)).toEqual({ entries: [], state: "held" });
    });

    it("fences appends by the token: another token, a released run and a completed one append nothing", async () => {
      const key = id();
      const token = claimed(await store().claim(key, "fp", long));
      expect(await store().appendStream(key, token + 1, [entry(1)], ttl)).toBe(false);
      expect(await store().appendStream(id(), token, [entry(1)], ttl)).toBe(false);
      expect(await store().release(key, token)).toBe(true);
      expect(await store().appendStream(key, token, [entry(2)], ttl)).toBe(false);
      expect(await store().readStream(key, token, 0, 0)).toEqual({ entries: [], state: "gone" });
      const again = claimed(await store().claim(key, "fp", long));
      expect(await store().appendStream(key, again, [entry(3)], ttl)).toBe(true);
      expect(await store().complete(key, again, done, ttl)).toBe(true);
      expect(await store().appendStream(key, again, [entry(4)], ttl)).toBe(false);
      expect(await store().readStream(key, again, 0, 0)).toEqual({ entries: [entry(3)], state: "completed" });
    });

    it("keeps each run's entries apart: a takeover's follower never reads the lapsed run's entries", async () => {
      const key = id();
      const first = claimed(await store().claim(key, "fp", options));
      expect(await store().appendStream(key, first, [entry(1), entry(2)], ttl)).toBe(true);
      await pass(lease + slack);
      expect((await store().readStream(key, first, 0, 0)).state).toBe("gone");
      const second = claimed(await store().claim(key, "fp", options));
      expect(await store().appendStream(key, first, [entry(9)], ttl)).toBe(false);
      expect(await store().readStream(key, second, 0, 0)).toEqual({ entries: [], state: "held" });
      expect(await store().appendStream(key, second, [entry(5)], ttl)).toBe(true);
      expect(await store().readStream(key, second, 0, 0)).toEqual({ entries: [entry(5)], state: "held" });
      expect((await store().readStream(key, first, 0, 0)).state).toBe("gone");
    });

    it("a read with nothing new waits for the next append, and answers at once when there is one", async () => {
      const key = id();
      const token = claimed(await store().claim(key, "fp", long));
      // A store that never woke would answer only after the wait: longer than the test may take.
      const waiting = store().readStream(key, token, 0, 120_000);
      expect(await store().appendStream(key, token, [entry(7)], ttl)).toBe(true);
      expect(await waiting).toEqual({ entries: [entry(7)], state: "held" });
      expect(await store().readStream(key, token, 0, 120_000)).toEqual({ entries: [entry(7)], state: "held" });
    });

    it("a read that waits in vain answers with nothing once its wait is over", async () => {
      const key = id();
      const token = claimed(await store().claim(key, "fp", long));
      expect(await store().readStream(key, token, 0, 50)).toEqual({ entries: [], state: "held" });
      expect(await store().readStream(id(), token, 0, 50)).toEqual({ entries: [], state: "gone" });
    });
  });
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}
