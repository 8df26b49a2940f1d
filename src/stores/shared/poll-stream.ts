import type { StreamRead } from "../../core/store.js";

/**
 * A follower's wait on a store that cannot wake a reader on an append (SQLite, MySQL, DynamoDB, libSQL): `read`
 * again until it finds entries or the run is no longer held, or `wait` ms have passed, pausing 10 ms at first and
 * half as long again after each empty read, up to 200 ms.
 */
export async function pollStream(read: () => Promise<StreamRead>, wait: number): Promise<StreamRead> {
  const deadline = performance.now() + wait;
  let pause = 10;
  for (;;) {
    const result = await read();
    const left = deadline - performance.now();
    if (result.entries.length > 0 || result.state !== "held" || left <= 0) return result;
    await new Promise((resolve) => setTimeout(resolve, Math.min(pause, left)));
    pause = Math.min(pause * 1.5, 200);
  }
}
