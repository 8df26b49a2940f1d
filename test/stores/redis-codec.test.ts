import { describe, expect, it } from "vitest";
import { numberOf, textOf, toRecord } from "../../src/stores/redis/codec.js";

// The record codec reads a reply's fields from Buffers (ioredis, iovalkey, node-redis) or text (Upstash). ASCII is
// read as char codes and digits one by one; everything else goes the general way, with the same result.

const bytes = (text: string) => Buffer.from(text, "utf8");

describe("RedisStore's record codec", () => {
  it("reads text as UTF-8, ASCII or not, from Buffers and strings alike", () => {
    for (const text of ["", "completed", "a".repeat(43), '{"key":"ключ","path":"/ü"}', "😀", "x".repeat(5000)]) {
      expect(textOf(bytes(text))).toBe(text);
      expect(textOf(text)).toBe(text);
    }
    expect(textOf(null)).toBe("");
    expect(textOf(undefined)).toBe("");
    expect(textOf(7)).toBe("7");
  });

  it("reads numbers digit by digit, and anything else as Number() does", () => {
    for (const text of ["0", "1", "201", "1733616000000", "999999999999999"]) {
      expect(numberOf(bytes(text))).toBe(Number(text));
    }
    for (const text of ["-1", "1.5", "1.733616e+12", "12345678901234567", " 1", ""]) {
      expect(numberOf(bytes(text))).toBe(Number(text));
      expect(numberOf(text)).toBe(Number(text));
    }
    expect(numberOf(null)).toBe(0);
    expect(numberOf(undefined)).toBe(0);
    expect(numberOf(42)).toBe(42);
  });

  it("turns a replay's fields into the record, non-ASCII meta and headers included", () => {
    const meta = { key: "clé", method: "POST", path: "/charges" };
    const headers = [
      ["content-type", "text/plain; charset=utf-8"],
      ["x-note", "déjà"],
    ];
    const reply = [
      "completed",
      "fp-ü",
      "1733616000001",
      "1733616000000",
      "1733616060000",
      "1733616300000",
      JSON.stringify(meta),
      "2",
      null,
      "run-1",
      null,
      "1733616000100",
      "201",
      JSON.stringify(headers),
      "body",
      "1",
      null,
      null,
    ];
    const fromBuffers = toRecord(
      "id",
      reply.map((field) => (field === null ? null : bytes(field))),
    );
    const fromText = toRecord("id", reply);
    expect(fromBuffers).toEqual({ ...fromText, response: { ...fromText.response!, body: bytes("body") } });
    expect(fromBuffers).toMatchObject({
      state: "completed",
      fingerprint: "fp-ü",
      token: 1733616000001,
      meta,
      version: 2,
      replays: 0,
      runId: "run-1",
      completedAt: 1733616000100,
      response: { status: 201, headers, kept: true },
    });
  });
});
