// What a claim and its completion cost the MemoryStore alone, per new key: in a store with room, and in a full store
// (every claim evicts the oldest completed record, as one does after `maxEntries` new keys). Plain JavaScript over the
// built package. Each figure is the best of several samples: contention on a shared machine only slows a sample down.
// Prints a Markdown table and writes it into bench/RESULTS.md between its markers.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { MemoryStore } from "../dist/index.js";

const maxEntries = 100_000;
const samples = 7;
const perSample = 20_000;
const options = { lease: 30_000, ttl: 300_000, meta: { key: "k", method: "POST", path: "/charges" } };
const response = {
  status: 201,
  headers: [["content-type", "application/json"]],
  body: new TextEncoder().encode('{"id":"ch_1","amount":1000}'),
  kept: true,
};

let next = 0;
async function claimAndComplete(store) {
  const id = `id-${next++}`;
  const claim = await store.claim(id, "fingerprint", options);
  if (claim.status !== "claimed") throw new Error(`${id} was not claimed`);
  await store.complete(id, claim.token, response, options.ttl);
}

/** µs of CPU per claim + complete, the best of `samples`; `fill` records are completed first and not counted. */
async function measure(fill) {
  const store = new MemoryStore({ maxEntries });
  for (let i = 0; i < fill; i++) await claimAndComplete(store);
  let best = Number.POSITIVE_INFINITY;
  for (let sample = 0; sample < samples; sample++) {
    // A store with room is kept below maxEntries: each sample starts from the same fill.
    const measured = fill < maxEntries ? new MemoryStore({ maxEntries }) : store;
    const started = process.cpuUsage();
    for (let i = 0; i < perSample; i++) await claimAndComplete(measured);
    const used = process.cpuUsage(started);
    best = Math.min(best, (used.user + used.system) / perSample);
    if (measured !== store) await measured.close();
  }
  await store.close();
  return best;
}

const withRoom = await measure(0);
const full = await measure(maxEntries);
const table = `## The memory store (\`bench/memory-store.mjs\`)

\`node bench/memory-store.mjs\` on ${new Date().toISOString().slice(0, 10)}, Node.js ${process.version}: CPU time of one
\`claim\` and its \`complete\` on a MemoryStore (maxEntries ${maxEntries.toLocaleString("en")}), the best of ${samples}
samples of ${perSample.toLocaleString("en")} new keys.

| store | µs per new key |
| --- | --- |
| with room (up to ${perSample.toLocaleString("en")} records) | ${withRoom.toFixed(2)} |
| full (each claim evicts the oldest completed record) | ${full.toFixed(2)} |
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
