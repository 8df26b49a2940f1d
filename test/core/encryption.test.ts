import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { afterAll, describe, expect, it } from "vitest";
import { withIdempotency } from "../../src/adapters/node/index.js";
import { createResponseCipher, streamEntryAad } from "../../src/core/encryption.js";
import {
  createIdempotency,
  DecryptionError,
  type EncryptionOptions,
  type IdempotencyEvent,
  MemoryStore,
} from "../../src/index.js";
import type { RunningServer } from "../http/app-spec.js";
import { serveNode } from "../http/servers.js";

const oldKey = randomBytes(32);
const newKey = randomBytes(32).toString("base64");
const SECRET = "card ending 4242, token tok_secret";

describe("encryption of stored responses at rest", () => {
  const store = new MemoryStore();
  const servers: RunningServer[] = [];
  let runs = 0;
  const events: IdempotencyEvent[] = [];
  afterAll(() => Promise.all(servers.map((server) => server.close())));

  async function serve(encryption?: EncryptionOptions) {
    const idem = createIdempotency({
      store,
      onEvent: (event) => events.push(event),
      ...(encryption ? { encryption } : {}),
    });
    const handler = (_req: IncomingMessage, res: ServerResponse) => {
      runs++;
      res.writeHead(201, { "content-type": "text/plain", "x-card": "4242" });
      res.end(SECRET);
    };
    const server = await serveNode(withIdempotency(idem, handler));
    servers.push(server);
    return server;
  }
  const post = (server: RunningServer, key: string, body = "{}") =>
    fetch(`${server.url}/pay`, { method: "POST", headers: { "idempotency-key": key }, body });
  const storedFor = async (key: string) =>
    (await store.list({ limit: 1000 })).records.find((record) => record.meta.key === key)!;

  it("stores only ciphertext and replays the response byte for byte", async () => {
    const server = await serve({ current: "k1", keys: { k1: oldKey } });
    const first = await post(server, "enc-1");
    expect(await first.text()).toBe(SECRET);
    const record = await storedFor("enc-1");
    expect(record.response?.headers).toEqual([["oncely-sealed", "v1;k1"]]);
    expect(Buffer.from(record.response!.body).includes(Buffer.from("4242"))).toBe(false);
    expect(record.response?.status).toBe(201);
    const replay = await post(server, "enc-1");
    expect(replay.status).toBe(201);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(replay.headers.get("x-card")).toBe("4242");
    expect(replay.headers.get("content-type")).toBe("text/plain");
    expect(await replay.text()).toBe(SECRET);
    expect(runs).toBe(1);
  });

  it("opens records sealed with a retired key after rotation, and seals new ones with the current key", async () => {
    const rotated = await serve({ current: "k2", keys: { k2: newKey, k1: oldKey } });
    expect(await (await post(rotated, "enc-1")).text()).toBe(SECRET);
    await post(rotated, "enc-2");
    expect((await storedFor("enc-2")).response?.headers).toEqual([["oncely-sealed", "v1;k2"]]);
    expect(runs).toBe(2);
  });

  it("answers 500 without running the handler when the record's key is no longer configured", async () => {
    const forgetful = await serve({ current: "k2", keys: { k2: newKey } });
    const answer = await post(forgetful, "enc-1");
    expect(answer.status).toBe(500);
    expect((await answer.json()).type).toBe("urn:oncely:problem:decryption-failed");
    expect(runs).toBe(2);
    expect(events.at(-1)).toMatchObject({ type: "store-error", key: "enc-1", status: 500 });
  });

  it("reads records stored before encryption was turned on", async () => {
    const plain = await serve();
    await post(plain, "plain-1");
    const encrypted = await serve({ current: "k2", keys: { k2: newKey } });
    expect(await (await post(encrypted, "plain-1")).text()).toBe(SECRET);
    expect(runs).toBe(3);
  });
});

describe("the response cipher", () => {
  const cipher = createResponseCipher({ current: "a", keys: { a: randomBytes(32) } });
  const response = {
    status: 200,
    headers: [["x", "1"]] as [string, string][],
    body: new Uint8Array([1, 2, 3]),
    kept: true,
  };

  it("refuses a sealed response moved to another record, or altered", async () => {
    const sealed = await cipher.seal("id-1", response);
    expect(await cipher.open("id-1", sealed)).toEqual(response);
    await expect(cipher.open("id-2", sealed)).rejects.toThrow(DecryptionError);
    const altered = Buffer.from(sealed.body);
    altered[20] = altered[20]! ^ 1;
    await expect(cipher.open("id-1", { ...sealed, body: altered })).rejects.toThrow(/altered/);
  });

  it("seals a stream's batch as one entry that opens only in its record, run and place, under a listed key", async () => {
    const batch = [Uint8Array.of(0x48, 1), new Uint8Array(0), Uint8Array.of(0x43, 2, 3)];
    const aad = streamEntryAad("id-1", 7, 3);
    const sealed = await cipher.sealEntries(aad, batch);
    expect(Buffer.from(sealed).includes(Buffer.from([0x43, 2, 3]))).toBe(false);
    expect(await cipher.openEntries(aad, sealed)).toEqual(batch);
    for (const elsewhere of [
      streamEntryAad("id-2", 7, 3),
      streamEntryAad("id-1", 8, 3),
      streamEntryAad("id-1", 7, 4),
    ]) {
      await expect(cipher.openEntries(elsewhere, sealed)).rejects.toThrow(DecryptionError);
    }
    const altered = Uint8Array.from(sealed);
    altered[altered.length - 1]! ^= 1;
    await expect(cipher.openEntries(aad, altered)).rejects.toThrow(/altered/);
    const rotated = createResponseCipher({ current: "b", keys: { b: randomBytes(32) } });
    await expect(rotated.openEntries(aad, sealed)).rejects.toThrow(/key "a", which is not configured/);
  });

  it("leaves a not-kept outcome, and a response never sealed, as they are", async () => {
    const notKept = { status: 201, headers: [], body: new Uint8Array(0), kept: false };
    expect(await cipher.seal("id", notKept)).toBe(notKept);
    expect(await cipher.open("id", response)).toBe(response);
  });

  it("validates its options with a TypeError that says what is wrong", () => {
    expect(() => createResponseCipher({ current: "a", keys: { a: randomBytes(16) } })).toThrow(/32 bytes/);
    expect(() => createResponseCipher({ current: "b", keys: { a: randomBytes(32) } })).toThrow(/`encryption.current`/);
    expect(() => createResponseCipher({ current: "a b", keys: { "a b": randomBytes(32) } })).toThrow(/key ids/);
    expect(() => createIdempotency({ store: new MemoryStore(), encryption: { current: "x", keys: {} } })).toThrow(
      TypeError,
    );
  });
});
