import { deflateSync, gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { webDecoders } from "../../src/core/decoders.js";
import { fitEncoding } from "../../src/core/encoding.js";

/** A request's headers as the engine holds them, with this Accept-Encoding. */
const accepting = (acceptEncoding: string) => ({ headers: { "accept-encoding": acceptEncoding } });
const text = new TextEncoder().encode(JSON.stringify({ id: "ch_1", note: "é€".repeat(500) }));

describe("replaying a compressed stored body", () => {
  it("decodes it for a client that does not accept the coding, and keeps it for one that does", async () => {
    const stored = {
      status: 201,
      headers: [
        ["content-encoding", "gzip"],
        ["x-id", "1"],
      ] as [string, string][],
      body: gzipSync(text),
    };
    const plain = await fitEncoding(stored, accepting("identity"));
    expect(plain.headers).toEqual([["x-id", "1"]]);
    expect(Buffer.from(plain.body).equals(Buffer.from(text))).toBe(true);
    expect(await fitEncoding(stored, accepting("gzip, br"))).toBe(stored);
    expect(await fitEncoding(stored, accepting("gzip;q=0"))).not.toBe(stored);
  });

  it("decodes gzip and deflate with the web's DecompressionStream where node:zlib is missing", async () => {
    const decoders = webDecoders();
    expect(Object.keys(decoders).sort()).toEqual(["deflate", "gzip", "x-gzip"]);
    expect(Buffer.from(await decoders.gzip!(gzipSync(text))).equals(Buffer.from(text))).toBe(true);
    expect(Buffer.from(await decoders.deflate!(deflateSync(text))).equals(Buffer.from(text))).toBe(true);
  });
});
