// What canonicalising a JSON body costs the fingerprint, µs per body, in-process (no HTTP): the strict scanner the
// fingerprint uses (`canonicalJsonFromBytes`, from the bytes) against what it did before, and what a body a framework
// already parsed still costs (decode, `JSON.parse`, then sort keys with `canonicalJson`). Bodies: an order of about
// 1 KB (nested objects, an array, escapes, numbers) and one of 16 KB. The two are interleaved over 11 rounds and the
// median is printed, so load from other processes on the machine moves both alike.
// Run: `npx tsx bench/fingerprint.ts`.
import { canonicalJson } from "../src/core/canonical-json.js";
import { canonicalJsonFromBytes } from "../src/core/strict-json.js";
import { median } from "./measure.js";

function order(items: number) {
  return {
    customer: { id: "cus_9s8d7f6g5h4j3k2l", email: "ana.lopez@example.com", name: 'Ana López "Anita"' },
    currency: "eur",
    amount: 129_990,
    metadata: { source: "checkout", campaign: "winter-2026", note: "leave at the door\nring twice" },
    items: Array.from({ length: items }, (_, i) => ({
      sku: `SKU-${1000 + i}`,
      quantity: (i % 3) + 1,
      price: 19.99 + i,
      tags: ["gift", "fragile"],
    })),
    shipping: { line1: "Calle Mayor 1", city: "Madrid", postal_code: "28013", country: "ES" },
  };
}

const utf8 = new TextDecoder();
const ways: [string, (body: Uint8Array) => unknown][] = [
  ["strict scanner (now)", (body) => canonicalJsonFromBytes(body)],
  ["JSON.parse + sort (before)", (body) => canonicalJson(JSON.parse(utf8.decode(body)))],
];

for (const items of [6, 150]) {
  const body = new TextEncoder().encode(JSON.stringify(order(items), null, 1));
  const iterations = Math.round(4_000_000 / body.byteLength);
  const rounds = ways.map((): number[] => []);
  for (let round = -1; round < 11; round++) {
    ways.forEach(([, canonicalise], i) => {
      const start = performance.now();
      for (let n = 0; n < iterations; n++) canonicalise(body);
      if (round >= 0) rounds[i]!.push(((performance.now() - start) * 1000) / iterations); // round -1 warms up
    });
  }
  const figures = ways.map(([name], i) => `${name} ${median(rounds[i]!).toFixed(1)} µs`);
  const perKb = ways.map((_, i) => ((median(rounds[i]!) * 1024) / body.byteLength).toFixed(1));
  console.log(`${body.byteLength}-byte body: ${figures.join(", ")} (per KB: ${perKb.join(" vs ")})`);
}
