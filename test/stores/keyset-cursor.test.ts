import { describe, expect, it } from "vitest";
import { InvalidCursorError } from "../../src/core/errors.js";
import type { IdempotencyRecord } from "../../src/index.js";
import { decodeCursor, encodeCursor } from "../../src/stores/shared/keyset-cursor.js";

describe("keyset cursor of the SQL stores", () => {
  it("round-trips (createdAt, id), fractional milliseconds from an injected clock included", () => {
    for (const createdAt of [1_700_000_000_000, 1_700_000_002_405.5]) {
      const record = { createdAt, id: "abc" } as IdempotencyRecord;
      expect(decodeCursor(encodeCursor(record))).toEqual([createdAt, "abc"]);
    }
  });

  it("refuses a cursor it did not make with an InvalidCursorError", () => {
    for (const bad of ["", "not-base64-json", Buffer.from('["x","y"]').toString("base64url")]) {
      expect(() => decodeCursor(bad)).toThrow(InvalidCursorError);
    }
  });
});
