// What the MemoryStore costs alone: CPU per new key (claim + complete) and per replay (a claim that finds the completed
// record), and memory per record after 200,000 keys with 100-byte bodies. Plain JavaScript over the built package;
// it runs itself with `--expose-gc` so the memory figures are taken after a full GC. Each CPU figure
// is the best of several samples: contention on a shared machine only slows a sample down. Prints a Markdown table
// and writes it into bench/RESULTS.md between its markers.
import { spawnSync } from "node:child_process";
import { hash, randomUUID } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { MemoryStore } from "../dist/index.js";

if (typeof globalThis.gc !== "function") {
  // The memory figures need a full GC first: run again with the collector exposed (as `npm run bench` does not).
  const { status } = spawnSync(process.execPath, ["--expose-gc", fileURLToPath(import.meta.url)], { stdio: "inherit" });
  process.exit(status ?? 1);
}

const records = 200_000;
const bodyBytes = 100;
const samples = 7;
const perSample = 20_000;
const ttl = 300_000;

/** The ids and fingerprints the engine hands a store: SHA-256, base64url. */
const sha = (text) => hash("sha256", text, "base64url");
/** What the engine stores with a record, made per request as the engine does. */
const claimOptions = () => ({
  lease: 30_000,
  ttl,
  meta: { key: randomUUID(), scope: sha("tenant").slice(0, 16), method: "POST", path: "/charges" },
});
const response = {
  status: 201,
  headers: [["content-type", "application/json"]],
  body: new Uint8Array(bodyBytes).fill(0x61),
  kept: true,
};

async function claimAndComplete(store, id, fingerprint, options) {
  const claim = await store.claim(id, fingerprint, options);
  if (claim.status !== "claimed") throw new Error(`${id} was not claimed`);
  await store.complete(id, claim.token, response, ttl);
}

const inputs = (prefix) =>
  Array.from({ length: perSample }, (_, i) => ({
    id: sha(`${prefix}:${i}`),
    fingerprint: sha(`fp:${prefix}:${i}`),
    options: claimOptions(),
  }));

/** heapUsed, external memory and RSS in bytes after a full GC (twice: the first may leave work for finalizers). */
async function settledMemory() {
  for (let i = 0; i < 2; i++) {
    gc();
    await sleep(50);
  }
  const { heapUsed, external, rss } = process.memoryUsage();
  return { heapUsed, external, rss };
}

const before = await settledMemory();
const store = new MemoryStore({ maxEntries: records });
for (let i = 0; i < records; i++) {
  await claimAndComplete(store, sha(`memory:${i}`), sha(`fp:memory:${i}`), claimOptions());
}
if (store.size !== records) throw new Error(`the store holds ${store.size} records, expected ${records}`);
const after = await settledMemory();
const heapPerRecord = (after.heapUsed - before.heapUsed) / records;
const externalPerRecord = (after.external - before.external) / records;
const mb = (bytes) => (bytes / 2 ** 20).toFixed(0);
await store.close();

/**
 * µs of process CPU (the collector's threads included) per new key and per replay, the best of `samples` samples of
 * `perSample` keys, on a store that already holds `held` completed records: how much a store makes the collector
 * work grows with what it holds.
 */
async function cpuPerOperation(held) {
  const store = new MemoryStore({ maxEntries: held + perSample });
  for (let i = 0; i < held; i++) {
    await claimAndComplete(store, sha(`held:${i}`), sha(`fp:held:${i}`), claimOptions());
  }
  let newKey = Number.POSITIVE_INFINITY;
  let replay = Number.POSITIVE_INFINITY;
  for (let sample = 0; sample < samples; sample++) {
    const keys = inputs(`${held}:${sample}`);
    let started = process.cpuUsage();
    for (const { id, fingerprint, options } of keys) await claimAndComplete(store, id, fingerprint, options);
    let used = process.cpuUsage(started);
    newKey = Math.min(newKey, (used.user + used.system) / perSample);
    started = process.cpuUsage();
    for (const { id, fingerprint, options } of keys) {
      const found = await store.claim(id, fingerprint, options);
      if (found.status !== "completed") throw new Error(`${id} was not replayed`);
    }
    used = process.cpuUsage(started);
    replay = Math.min(replay, (used.user + used.system) / perSample);
    for (const { id } of keys) await store.delete(id);
  }
  await store.close();
  return { newKey, replay };
}

const small = await cpuPerOperation(0);
const large = await cpuPerOperation(100_000);

const table = `## The memory store (\`bench/memory-store.mjs\`)

\`node bench/memory-store.mjs\` (it runs itself with \`--expose-gc\`) on ${new Date().toISOString().slice(0, 10)}, Node.js ${process.version}.
CPU: process CPU time (the collector's threads included) per operation, the best of ${samples} samples of
${perSample.toLocaleString("en")} keys. Memory: after ${records.toLocaleString("en")} claims and completes with ${bodyBytes}-byte bodies, and a full GC.

| measure | value |
| --- | --- |
| µs per new key (claim + complete), store holding up to ${perSample.toLocaleString("en")} records | ${small.newKey.toFixed(2)} |
| µs per replay (claim finds the completed record), same | ${small.replay.toFixed(2)} |
| µs per new key, store holding 100,000 records | ${large.newKey.toFixed(2)} |
| µs per replay, store holding 100,000 records | ${large.replay.toFixed(2)} |
| heap per record (body included) | ${heapPerRecord.toFixed(0)} bytes |
| heap per record beyond its ${bodyBytes}-byte body | ${(heapPerRecord - bodyBytes).toFixed(0)} bytes |
| external (off-heap) memory per record | ${externalPerRecord.toFixed(0)} bytes |
| heap used: before, after | ${mb(before.heapUsed)} MB, ${mb(after.heapUsed)} MB |
| RSS: before, after | ${mb(before.rss)} MB, ${mb(after.rss)} MB |
| RSS after / heap used after | ${(after.rss / after.heapUsed).toFixed(2)} |
`;
console.log(table);
const results = new URL("./RESULTS.md", import.meta.url);
const section = `<!-- memory-store -->\n${table}<!-- /memory-store -->`;
const previous = existsSync(results) ? readFileSync(results, "utf8") : "";
const marked = /<!-- memory-store -->[\s\S]*?<!-- \/memory-store -->/;
writeFileSync(
  results,
  marked.test(previous) ? previous.replace(marked, section) : `${previous.trimEnd()}\n${section}\n`,
);
