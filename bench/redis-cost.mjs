// What RedisStore's operations cost the Redis server, against the plain commands other libraries send: instructions
// per operation executed by redis-server, counted by valgrind's callgrind. Instruction counts do not move with the
// machine's other load, where CPU time on a shared machine does, and one Redis thread serves every app process, so
// this is the cost that bounds a fleet. Starts its own redis-server under callgrind on a free port (about 50 times
// slower than natively, so the counts are per operation over a few thousand), and needs `valgrind` and
// `redis-server` on the PATH; without them it says so and exits. Plain JavaScript over the built package. Prints a
// Markdown table and writes it into bench/RESULTS.md between its markers.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { RedisStore } from "../dist/stores/redis/index.js";

const operations = 2_000;
const inFlight = 10;

for (const tool of ["valgrind", "callgrind_control", "redis-server"]) {
  if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0) {
    console.log(`bench/redis-cost.mjs: ${tool} is not installed, nothing measured`);
    process.exit(0);
  }
}

const port = await new Promise((resolve) => {
  const probe = createServer().listen(0, "127.0.0.1", () => {
    const { port } = probe.address();
    probe.close(() => resolve(port));
  });
});
const dir = mkdtempSync(join(tmpdir(), "oncely-redis-cost-"));
const server = spawn(
  "valgrind",
  ["--tool=callgrind", `--callgrind-out-file=${dir}/cg.%p`, "redis-server", "--port", String(port)].concat([
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
  ]),
  { stdio: "ignore" },
);
process.once("exit", () => server.kill("SIGKILL"));

// No bound on the retries of the first PING: under valgrind on a loaded machine redis-server takes more than ioredis's
// default 20 retries (4 s here) to come up.
const client = new Redis({ port, host: "127.0.0.1", retryStrategy: () => 200, maxRetriesPerRequest: null });
client.on("error", () => {});
await client.ping(); // answers once redis-server is up under valgrind (a few seconds)

/** Instructions per operation of `operation(i)`, run `operations` times, `inFlight` at a time. */
async function count(operation) {
  execFileSync("callgrind_control", ["--zero", String(server.pid)], { stdio: "ignore" });
  await Promise.all(
    Array.from({ length: inFlight }, async (_, lane) => {
      for (let i = lane; i < operations; i += inFlight) await operation(i);
    }),
  );
  execFileSync("callgrind_control", ["--dump", String(server.pid)], { stdio: "ignore" });
  const dumps = readdirSync(dir).filter((file) => file.startsWith(`cg.${server.pid}.`));
  const latest = dumps.sort((a, b) => Number(a.split(".").at(-1)) - Number(b.split(".").at(-1))).at(-1);
  const text = readFileSync(join(dir, latest), "utf8");
  const total = Number((/^summary: (\d+)/m.exec(text) ?? /^totals: (\d+)/m.exec(text))[1]);
  return total / operations / 1000;
}

const ids = Array.from({ length: operations }, () => randomUUID());
const fingerprint = "3r_1qw8iBVCZ9gWg81HiW8ifnti2n7rI1sDopDzkd8I";
const claim = { lease: 30_000, ttl: 300_000, meta: { key: "k", method: "POST", path: "/charges" } };
const response = {
  status: 201,
  headers: [["content-type", "application/json"]],
  body: new TextEncoder().encode('{"id":"ch_1","amount":1000,"currency":"eur"}'),
  kept: true,
};
await client.set("bench:plain", "x".repeat(200));
const store = new RedisStore({ client, prefix: "bench:", timeout: 60_000 });
await store.claim("warm-up", fingerprint, claim); // loads the scripts (EVAL), so every operation below is EVALSHA
const tokens = [];
const rows = [
  ["GET of a 200-byte value (a peer's replay)", await count(() => client.get("bench:plain"))],
  ["SET NX PX (a peer's claim)", await count((i) => client.set(`bench:plain:${i}`, "v", "PX", 300_000, "NX"))],
  [
    "SET PX of a 200-byte value (a peer's complete)",
    await count((i) => client.set(`bench:plain:${i}`, "x".repeat(200), "PX", 300_000)),
  ],
  [
    "RedisStore claim of a new key",
    await count(async (i) => {
      tokens[i] = (await store.claim(ids[i], fingerprint, claim)).token;
    }),
  ],
  ["RedisStore complete", await count((i) => store.complete(ids[i], tokens[i], response, 300_000))],
  ["RedisStore claim that replays", await count((i) => store.claim(ids[i], fingerprint, claim))],
];
await store.close();
client.disconnect();
server.kill("SIGKILL");
rmSync(dir, { recursive: true, force: true });

const table = `## What Redis spends per operation (\`bench/redis-cost.mjs\`)

\`node bench/redis-cost.mjs\` on ${new Date().toISOString().slice(0, 10)}, ${execFileSync("redis-server", ["--version"]).toString().split(" ")[2].replace("v=", "Redis ")}:
thousands of instructions redis-server executes per operation (callgrind, ${operations.toLocaleString("en")} operations,
${inFlight} in flight), its network reads and writes included. A new key is a claim and a complete; a replay is one
claim. Each RedisStore operation is one Lua script: the script's call, each argument it is given and each command
it runs cost the server a few thousand instructions, which is what a lease, a fencing token, the server's clock and
the record index are paid with.

| operation | k instructions |
| --- | --- |
${rows.map(([name, value]) => `| ${name} | ${value.toFixed(1)} |`).join("\n")}
`;
console.log(table);
const results = new URL("./RESULTS.md", import.meta.url);
const section = `<!-- redis-cost -->\n${table}<!-- /redis-cost -->`;
const previous = existsSync(results) ? readFileSync(results, "utf8") : "";
const marked = /<!-- redis-cost -->[\s\S]*?<!-- \/redis-cost -->/;
writeFileSync(
  results,
  marked.test(previous) ? previous.replace(marked, section) : `${previous.trimEnd()}\n${section}\n`,
);
