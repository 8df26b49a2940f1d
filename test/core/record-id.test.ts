import { describe, expect, it } from "vitest";
import { recordId, scopeHash } from "../../src/core/record-id.js";

// Every stored record is found by its id, and carries the scope's hash: these values must never change, or a deploy
// would stop finding the records an older oncely wrote (the HTTP guard, idem.run and `oncely inspect` share them).
describe("recordId and scopeHash", () => {
  it("keep the formulas records are stored under", () => {
    expect(recordId(undefined, "order-1")).toBe("YmgtDGEbWCRT7i71nWz-mzchwhx55gQu1psTSp9JqAM");
    expect(recordId("acct_42", "order-1")).toBe("v9rQ-sgKnKQw4qrb8AKni1QMnj0XPHfBovEuvgzVEXQ");
    expect(scopeHash("acct_42")).toBe("ZKmyuGi8s-ZXLT3K");
  });

  it("keep scopes apart, and a key apart from a scope that contains it", () => {
    expect(recordId("a", "b")).not.toBe(recordId(undefined, "b"));
    expect(recordId("a", "bc")).not.toBe(recordId("ab", "c"));
  });
});
