import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { utf8Length } from "../../src/core/hash.js";
import { portableSha256, portableSha256Hex } from "../../src/core/sha256.js";

const nodeSha256 = (data: string | Uint8Array) => createHash("sha256").update(data).digest("base64url");

describe("the portable SHA-256 (runtimes without node:crypto)", () => {
  it("matches the FIPS 180-4 test vectors and Node's digest at every padding boundary", () => {
    expect(portableSha256("abc")).toBe(nodeSha256("abc"));
    expect(portableSha256("")).toBe("47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU");
    for (let length = 0; length <= 200; length++) {
      const data = Uint8Array.from({ length }, (_, i) => (i * 31 + length) & 255);
      expect(portableSha256(data)).toBe(nodeSha256(data));
    }
  });

  it("gives the hex digest sha256sum prints, for the key hashes in logs and traces", () => {
    expect(portableSha256Hex("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (text) => {
        return portableSha256Hex(text) === createHash("sha256").update(text).digest("hex");
      }),
      { numRuns: 300 },
    );
  });

  it("matches Node's digest on random bytes and strings", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 5_000 }), (data) => portableSha256(data) === nodeSha256(data)),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (text) => portableSha256(text) === nodeSha256(text)),
      {
        numRuns: 300,
      },
    );
  });

  it("counts UTF-8 bytes as TextEncoder encodes them, lone surrogates included", () => {
    for (const text of ["", "abc", "é", "€", "😀", "a\uD800b", "\uDC00", "\uD83D", "x".repeat(1000)]) {
      expect(utf8Length(text)).toBe(new TextEncoder().encode(text).byteLength);
    }
    fc.assert(
      fc.property(
        fc.string({ unit: "binary" }),
        (text) => utf8Length(text) === new TextEncoder().encode(text).byteLength,
      ),
      { numRuns: 500 },
    );
  });
});
