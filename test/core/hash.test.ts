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
});
