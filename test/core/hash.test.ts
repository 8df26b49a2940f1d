import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { hashParts } from "../../src/core/hash.js";

// Record ids and fingerprints are these hashes: they must never change, or a rolling deploy would stop finding (or
// start mismatching) the records an older oncely wrote. The values were computed with a streaming SHA-256 over
// `<byte length>:<part>` for each part, the format since the first release.
describe("hashParts", () => {
  it("keeps the stored id and fingerprint format", () => {
    expect(hashParts(["oncely:id:v1", "", "order-1"])).toBe("YmgtDGEbWCRT7i71nWz-mzchwhx55gQu1psTSp9JqAM");
    expect(hashParts(["POST", "/charges", "", new Uint8Array([0, 1, 2, 255]), "tail"])).toBe(
      "fyQ9HajWgtidNeQxRPl1fG_7UzQ_NGT8hQ0PVanNaaQ",
    );
  });

  it("prefixes each part with its length in bytes, so parts never run together", () => {
    expect(hashParts(["ab", "c"])).not.toBe(hashParts(["a", "bc"]));
    expect(hashParts(["é", ""])).toBe("9IqhB84nkYKnDHY_rUb9NMFnim9Iq5CrobTUqVq8D4c");
    expect(hashParts([new TextEncoder().encode("xy")])).toBe(hashParts(["xy"]));
  });

  it("hashes parts given as bytes as it hashes the same bytes as text, small or large", () => {
    const streamed = (parts: (string | Uint8Array)[]) => {
      const hash = createHash("sha256");
      for (const part of parts) {
        const bytes = typeof part === "string" ? Buffer.from(part) : part;
        hash.update(`${bytes.byteLength}:`).update(bytes);
      }
      return hash.digest("base64url");
    };
    for (const size of [0, 1, 100, 4000, 4096, 5000, 70_000]) {
      const body = new Uint8Array(size).map((_, i) => (i * 7) % 256);
      const parts = ["POST", "/charges", "a=1", "accept:é\ud800", body];
      expect(hashParts(parts), `${size} bytes`).toBe(streamed(parts));
      expect(hashParts(["x", body, "tail", body])).toBe(streamed(["x", body, "tail", body]));
    }
  });
});
