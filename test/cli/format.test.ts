import { describe, expect, it } from "vitest";
import { hexDump, previewBody } from "../../src/cli/body-preview.js";
import { ExitCode, errorLine, exitCodeFor, NotFoundError, UsageError } from "../../src/cli/errors.js";
import {
  bytes,
  colourWanted,
  humanDuration,
  palette,
  relativeTime,
  table,
  visibleLength,
} from "../../src/cli/format.js";
import { recordSummary, routeMatcher } from "../../src/cli/record-view.js";
import { StoreUrlError } from "../../src/cli/store-url.js";
import { sealedKeyId } from "../../src/core/aes-gcm.js";
import { StoreError, StoreTimeoutError } from "../../src/core/errors.js";
import type { IdempotencyRecord } from "../../src/core/store.js";
import { StoreDriverMissingError } from "../../src/stores/shared/optional-driver.js";

const record = (meta: IdempotencyRecord["meta"], response?: IdempotencyRecord["response"]): IdempotencyRecord => ({
  id: "id1",
  state: response ? "completed" : "in-flight",
  fingerprint: "fp",
  token: 1,
  createdAt: 0,
  leaseUntil: 5,
  expiresAt: 10,
  meta,
  version: 1,
  ...(response ? { response, completedAt: 1 } : {}),
});

describe("colour", () => {
  it("is on only for a terminal without NO_COLOR", () => {
    expect(colourWanted({ isTTY: true }, {})).toBe(true);
    expect(colourWanted({ isTTY: true }, { NO_COLOR: "1" })).toBe(false);
    expect(colourWanted({ isTTY: false }, {})).toBe(false);
    expect(colourWanted({}, {})).toBe(false);
  });

  it("paints with ANSI codes when on and returns text unchanged when off", () => {
    expect(palette(true).red("x")).toBe("\u001b[31mx\u001b[39m");
    expect(palette(false).red("x")).toBe("x");
    expect(visibleLength(palette(true).bold("abc"))).toBe(3);
  });
});

describe("table", () => {
  it("aligns columns by their visible width, colour codes included, with no trailing blanks", () => {
    const out = table(
      ["A", "LONGER"],
      [
        [palette(true).green("completed"), "x"],
        ["in", "yy"],
      ],
      palette(false),
    );
    expect(out.split("\n").map((line) => line.replaceAll("\u001b[32m", "").replaceAll("\u001b[39m", ""))).toEqual([
      "A          LONGER",
      "completed  x",
      "in         yy",
    ]);
  });
});

describe("times and sizes", () => {
  it("shows the two largest units of a duration", () => {
    expect(humanDuration(500)).toBe("500ms");
    expect(humanDuration(45_000)).toBe("45s");
    expect(humanDuration(3 * 3_600_000 + 20 * 60_000 + 5_000)).toBe("3h 20m");
    expect(humanDuration(86_400_000 + 60_000)).toBe("1d");
    expect(relativeTime(0, 90_000)).toBe("1m 30s ago");
    expect(relativeTime(90_000, 0)).toBe("in 1m 30s");
  });

  it("shows sizes in binary units", () => {
    expect(bytes(0)).toBe("0 B");
    expect(bytes(1023)).toBe("1023 B");
    expect(bytes(1536)).toBe("1.5 KiB");
    expect(bytes(20 * 1024 * 1024)).toBe("20 MiB");
  });
});

describe("body preview", () => {
  it("shows printable UTF-8 as text, cut at the limit without breaking a character", () => {
    expect(previewBody(Buffer.from('{"a":1}\n'), 100)).toMatchObject({ size: 8, text: '{"a":1}\n', truncated: false });
    const euro = Buffer.from("€€€"); // 3 bytes each
    expect(previewBody(euro, 4)).toMatchObject({ size: 9, text: "€", truncated: true });
  });

  it("treats control characters and invalid UTF-8 as binary", () => {
    expect(previewBody(Uint8Array.from([0, 1, 2]), 10).text).toBeUndefined();
    expect(previewBody(Uint8Array.from([0xff, 0xfe, 0x41]), 10).text).toBeUndefined();
    expect(previewBody(Uint8Array.from([0xff, 0xfe, 0x41]), 2)).toMatchObject({ size: 3, truncated: true });
  });

  it("dumps bytes as offset, hex and ASCII", () => {
    expect(hexDump(Uint8Array.from([0, 0x41, 0xff]))).toEqual([`00000000  00 41 ff${" ".repeat(39)}  .A.`]);
    expect(hexDump(new Uint8Array(17))).toHaveLength(2);
  });
});

describe("records", () => {
  it("matches --route on method and path, path alone, or a path with *", () => {
    const charge = record({ key: "k", method: "POST", path: "/charges/ch_1" });
    expect(routeMatcher("POST /charges/ch_1")(charge)).toBe(true);
    expect(routeMatcher("post /charges/ch_1")(charge)).toBe(true);
    expect(routeMatcher("GET /charges/ch_1")(charge)).toBe(false);
    expect(routeMatcher("/charges/*")(charge)).toBe(true);
    expect(routeMatcher("/charges")(charge)).toBe(false);
    expect(routeMatcher("/charges.ch_1")(record({ key: "k", path: "/chargesXch_1" }))).toBe(false);
    expect(routeMatcher("run")(record({ key: "k", path: "run" }))).toBe(true);
    expect(routeMatcher("POST")(charge)).toBe(false); // one word is a path
    expect(() => routeMatcher("POST /a /b")).toThrow(UsageError);
  });

  it("names the key a sealed response was sealed with, and only for the marker alone", () => {
    const sealed = {
      status: 200,
      headers: [["oncely-sealed", "v1;2026-11"]] as [string, string][],
      body: new Uint8Array(40),
      kept: true,
    };
    expect(sealedKeyId(sealed)).toBe("2026-11");
    expect(sealedKeyId({ ...sealed, headers: [["content-type", "text/plain"]] })).toBeUndefined();
    expect(recordSummary(record({ key: "k" }, sealed)).response).toEqual({
      status: 200,
      kept: true,
      sealedWith: "2026-11",
      bodyBytes: 40,
    });
  });

  it("summarises a record with ISO times and nulls for what is absent", () => {
    expect(recordSummary(record({ key: "k" }))).toEqual({
      id: "id1",
      key: "k",
      scope: null,
      method: null,
      path: null,
      state: "in-flight",
      createdAt: "1970-01-01T00:00:00.000Z",
      completedAt: null,
      expiresAt: "1970-01-01T00:00:00.010Z",
      leaseUntil: "1970-01-01T00:00:00.005Z",
      replays: null,
      response: null,
    });
  });

  it("shows a store's replay count once records carry one", () => {
    const counted = { ...record({ key: "k" }), replays: 3 } as IdempotencyRecord;
    expect(recordSummary(counted).replays).toBe(3);
  });
});

describe("errors", () => {
  const context = { defaultStore: false, storeUrl: "redis://h:6379" };

  it("maps each failure to its exit code", () => {
    expect(exitCodeFor(new UsageError("x"))).toBe(ExitCode.usage);
    expect(exitCodeFor(new StoreUrlError("x:", "bad"))).toBe(ExitCode.usage);
    expect(exitCodeFor(new NotFoundError("x"))).toBe(ExitCode.notFound);
    expect(exitCodeFor(new StoreTimeoutError("redis", "list", "timed out"))).toBe(ExitCode.store);
    expect(exitCodeFor(new StoreDriverMissingError("sqlite", "SqliteStore", "better-sqlite3"))).toBe(ExitCode.store);
    expect(exitCodeFor(new Error("bug"))).toBe(ExitCode.usage);
  });

  it("prints one line, naming the store without oncely's own tag", () => {
    const error = new StoreError("redis", "list", "failed: connect ECONNREFUSED\n127.0.0.1:6379");
    expect(errorLine(error, context)).toBe(
      "oncely: [redis] list failed: connect ECONNREFUSED 127.0.0.1:6379 (store redis://h:6379)",
    );
  });

  it("suggests --store memory: when the default store's driver is missing", () => {
    const line = errorLine(new StoreDriverMissingError("sqlite", "SqliteStore", "better-sqlite3"), {
      defaultStore: true,
      storeUrl: "sqlite:./oncely.db",
    });
    expect(line).toBe(
      'oncely: the default store (sqlite:./oncely.db) needs the "better-sqlite3" package: npm install better-sqlite3, or pass --store memory: (or another store URL)',
    );
  });
});
