import { describe, expect, it } from "vitest";
import { webResponse } from "../../src/adapters/shared/web-body.js";

// The fetch Response the web adapters (fetch, Hono) answer with: the headers go in as a record where no name repeats.
describe("webResponse", () => {
  const body = new TextEncoder().encode("stored");

  it("keeps a header whose name an ordinary object already has", async () => {
    const response = webResponse(
      201,
      [
        ["constructor", "c1"],
        ["content-type", "text/plain"],
      ],
      body,
    );
    expect(response.status).toBe(201);
    expect([...response.headers]).toEqual([
      ["constructor", "c1"],
      ["content-type", "text/plain"],
    ]);
    expect(await response.text()).toBe("stored");
  });

  it("keeps every value of a repeated name", () => {
    const response = webResponse(
      200,
      [
        ["set-cookie", "a=1"],
        ["set-cookie", "b=2"],
      ],
      body,
    );
    expect(response.headers.getSetCookie()).toEqual(["a=1", "b=2"]);
  });

  it("sends no body with a status that must have none", () => {
    expect(webResponse(204, [], body).body).toBeNull();
  });
});
