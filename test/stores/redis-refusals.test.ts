import { ReplyError } from "ioredis";
import { describe, expect, it } from "vitest";
import { refusedBeforeRunning, untilNotRefused } from "../../src/stores/redis/refusals.js";

// Which failures of a script on a Redis Cluster the store sends again (src/stores/redis/refusals.ts): the answers a
// node gives before running anything, as ioredis hands them over. The Cluster tests (redis-cluster.test.ts and the
// resharding test) meet them on a real Cluster; these pin the list.

describe("RedisStore on a Cluster: refusals sent again", () => {
  it("takes TRYAGAIN, ASK, MOVED, CLUSTERDOWN and NOSCRIPT, alone or as ioredis's last redirection error", () => {
    for (const reply of [
      "TRYAGAIN Multiple keys request during rehashing of slot",
      "ASK 6424 127.0.0.1:7001",
      "MOVED 6424 127.0.0.1:7001",
      "CLUSTERDOWN The cluster is down",
      "NOSCRIPT No matching script. Please use EVAL.",
    ]) {
      expect(refusedBeforeRunning(new ReplyError(reply))).toBe(true);
      const redirected = new Error(`Too many Cluster redirections. Last error: ${new ReplyError(reply)}`);
      expect(refusedBeforeRunning(redirected)).toBe(true);
    }
  });

  it("never takes a failure after which the script may have run", () => {
    for (const message of [
      "ERR user_script:12: Script attempted to access a non local key in a cluster node",
      "OOM command not allowed when used memory > 'maxmemory'.",
      "Connection is closed.",
      "Command timed out",
    ]) {
      expect(refusedBeforeRunning(new ReplyError(message))).toBe(false);
    }
  });

  it("sends a script refused with NOSCRIPT again, and answers what the next send answers", async () => {
    let sends = 0;
    const reply = await untilNotRefused(performance.now() + 1_000, async () => {
      sends++;
      if (sends === 1) throw new ReplyError("NOSCRIPT No matching script. Please use EVAL.");
      return "claimed";
    });
    expect({ reply, sends }).toEqual({ reply: "claimed", sends: 2 });
  });
});
