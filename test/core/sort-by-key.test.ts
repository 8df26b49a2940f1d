import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { sortByKey } from "../../src/core/sort-by-key.js";

describe("sortByKey", () => {
  it("orders as Array.prototype.sort orders strings, stably, at every length", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.string({ unit: "binary" }), fc.nat()), { maxLength: 40 }), (items) => {
        const expected = [...items].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
        expect(sortByKey([...items], (item) => item[0])).toEqual(expected);
      }),
    );
  });
});
