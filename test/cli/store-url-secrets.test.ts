import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorLine } from "../../src/cli/errors.js";
import { openStore } from "../../src/cli/open-store.js";
import { parseStoreUrl, redactStoreUrl, storeUrlSecrets } from "../../src/cli/store-url.js";
import { createPostgresTable, dropPostgresTable } from "../support/scratch.js";
import { serviceAvailable } from "../support/services.js";
import { cliScript, runCli } from "./run-cli.js";

// "Passwords never appear in the CLI's messages", for every shape of store URL the drivers accept and the mistakes
// people make typing them: a password holding "@" or "/", a password in the query (pg, mysql2 and ioredis all read
// `?password=`), a missing or doubled slash, a leading space. Checked in the parser's errors, the error line the CLI
// prints, `oncely stats`, and `oncely proxy`'s startup log or error line.

const dir = mkdtempSync(join(tmpdir(), "oncely-secrets-"));
const TABLE = "oncely_secret_test";
const postgresUp = await serviceAvailable("postgres");
const redisUp = await serviceAvailable("redis");
beforeAll(async () => {
  if (postgresUp) await createPostgresTable(TABLE);
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  if (postgresUp) await dropPostgresTable(TABLE);
});

/** URLs of the running services, with which the proxy starts: its startup log must show them redacted. */
const STARTS = new Map<string, string>([
  [
    "redis://:Pw0rd-redis@127.0.0.1:6379?prefix=oncely-secret-test:",
    "redis://:***@127.0.0.1:6379?prefix=oncely-secret-test:",
  ],
  [
    `postgres://postgres:P@ss@word1@127.0.0.1:5432/test?table=${TABLE}`,
    `postgres://postgres:***@127.0.0.1:5432/test?table=${TABLE}`,
  ],
  [
    `postgresql://postgres@127.0.0.1:5432/test?password=Qpg-pass2&table=${TABLE}`,
    `postgresql://postgres@127.0.0.1:5432/test?password=***&table=${TABLE}`,
  ],
]);

/** [store URL, the secrets it holds]: none of them may be printed, whole or as the part after an "@". */
const CASES: [string, string[]][] = [
  ["redis://:Pw0rd-redis@127.0.0.1:6379?prefix=oncely-secret-test:", ["Pw0rd-redis"]],
  ["redis://user:Pw0rd@redis@127.0.0.1:1/0", ["Pw0rd@redis", "Pw0rd"]],
  ["rediss://user:Pw0rd/slash@127.0.0.1:1", ["Pw0rd/slash", "Pw0rd"]],
  ["redis://127.0.0.1:1?password=Qp4ss-redis&prefix=x:", ["Qp4ss-redis"]],
  ["redis:/user:Typo-pw1@127.0.0.1:1", ["Typo-pw1"]],
  ["redis:user:Typo-pw2@127.0.0.1:1", ["Typo-pw2"]],
  ["redis//user:Typo-pw3@127.0.0.1:1", ["Typo-pw3"]],
  [" redis://user:Space-pw4@127.0.0.1:1", ["Space-pw4"]],
  ["redis://user:Port-pw5@127.0.0.1:notaport", ["Port-pw5"]],
  ["redis://user:12?frag-pw6@127.0.0.1:1", ["12?frag-pw6", "frag-pw6"]],
  [`postgres://postgres:P@ss@word1@127.0.0.1:5432/test?table=${TABLE}`, ["P@ss@word1", "ss@word1"]],
  [`postgresql://postgres@127.0.0.1:5432/test?password=Qpg-pass2&table=${TABLE}`, ["Qpg-pass2"]],
  ["postgres://postgres:Enc%40pw3@127.0.0.1:1/test", ["Enc%40pw3", "Enc@pw3"]],
  ["postgres://u:Hash#pw4@127.0.0.1:1/test", ["Hash#pw4", "pw4@"]],
  ["mysql://root:My@pw-5@127.0.0.1:1/test", ["My@pw-5", "pw-5"]],
  ["mysql://root@127.0.0.1:1/test?password=Qmy-pw6&table=x", ["Qmy-pw6"]],
  ["mariadb://root:Maria-pw7@127.0.0.1:1/test", ["Maria-pw7"]],
  [`sqlite:${join(dir, "a.db")}?password=Sq-pw8`, ["Sq-pw8"]],
  ["sqlite:user:Sq-pw9@./x.db", ["Sq-pw9"]],
  ["memory:?password=Mem-pw10", ["Mem-pw10"]],
  ["memory://user:Mem-pw11@", ["Mem-pw11"]],
  ["dynamodb://table?region=eu-west-1&endpoint=http://key:Dyn-pw12@127.0.0.1:1", ["Dyn-pw12"]],
  ["dynamodb://key:Dyn-pw13@table?region=eu-west-1", ["Dyn-pw13"]],
  ["Dyn-pw14@nothing-like-a-url", ["Dyn-pw14"]],
];

function expectNoSecret(text: string, secrets: readonly string[], where: string): void {
  for (const secret of secrets) expect(text, `${where}: ${text}`).not.toContain(secret);
}

// The CLI runs wait on real connection failures (the AWS SDK retries an unreachable endpoint for seconds).
describe("store URL secrets", { timeout: 120_000 }, () => {
  it.each(CASES)("%s: redacted, in the parser's error and in the error line", async (url, secrets) => {
    expectNoSecret(redactStoreUrl(url), secrets, "redactStoreUrl");
    let error: unknown;
    try {
      await openStore(parseStoreUrl(url, {}), { url }).then((store) => store.close());
    } catch (caught) {
      error = caught;
    }
    if (error) {
      expectNoSecret(String((error as Error).message), secrets, "error");
      const line = errorLine(error, {
        defaultStore: false,
        storeUrl: redactStoreUrl(url),
        secrets: storeUrlSecrets(url),
      });
      expectNoSecret(line, secrets, "errorLine");
    }
  });

  it("keeps what parsed cleanly readable: the scheme, user, host, port, path and other parameters", () => {
    expect(redactStoreUrl("redis://:s3cret@h:6379/0")).toBe("redis://:***@h:6379/0");
    expect(redactStoreUrl("postgres://u:p@ss@db.internal:5432/app?sslmode=require")).toBe(
      "postgres://u:***@db.internal:5432/app?sslmode=require",
    );
    expect(redactStoreUrl("mysql://root@h/test?password=x&table=idem")).toBe(
      "mysql://root@h/test?password=***&table=idem",
    );
    expect(redactStoreUrl(" redis://u:pw@h")).toBe(" redis://u:***@h");
    expect(redactStoreUrl("dynamodb://MyTable?region=x")).toBe("dynamodb://MyTable?region=x");
    expect(redactStoreUrl("sqlite:./oncely.db")).toBe("sqlite:./oncely.db");
    // Not clean: the "@" after the host could end a password that held "/", "?" or "#"; nothing after the scheme shows.
    expect(redactStoreUrl("redis:/u:pw@h")).toBe("redis:***");
    expect(redactStoreUrl("mysql://root:123/pw@h/db")).toBe("mysql://***");
    expect(redactStoreUrl("redis//u:pw@h")).toBe("***");
  });

  it.concurrent("oncely proxy refuses credentials in --upstream without printing them", async () => {
    const refuse = (upstream: string) =>
      runCli(["proxy", "--upstream", upstream, "--route", "POST /x", "--store", "memory:"]);
    const [userinfo, mistyped] = await Promise.all([
      refuse("http://admin:Up-pw1@127.0.0.1:9"),
      refuse("ftp://admin:Up-pw2@127.0.0.1:9"),
    ]);
    expect(userinfo.code).toBe(1);
    expect(userinfo.stderr).toBe(
      'oncely: --upstream: credentials in the URL are not sent upstream; remove them: "http://admin:***@127.0.0.1:9"\n',
    );
    expect(mistyped.code).toBe(1);
    expect(mistyped.stderr).not.toContain("Up-pw2");
  });

  it.concurrent.each(CASES)("oncely stats --store %s prints no secret", async (url, secrets) => {
    const result = await runCli(["stats", "--store", url], { cwd: dir, env: { ONCELY_STORE: undefined } });
    expectNoSecret(result.stdout + result.stderr, secrets, "stats");
  });

  it.concurrent.each(CASES)("oncely proxy --store %s logs no secret", async (url, secrets) => {
    const output = await proxyOutput(url);
    expectNoSecret(output, secrets, "proxy");
    const shown = STARTS.get(url);
    if (shown && (url.startsWith("redis") ? redisUp : postgresUp)) {
      expect(output).toContain("oncely proxy listening");
      expect(output).toContain(`"store":${JSON.stringify(shown)}`);
    }
  });
});

/** Proxies running at once: each spends about half a second of CPU starting, on a machine with 2 cores. */
let running = 0;
const waiting: (() => void)[] = [];

/** Everything `oncely proxy --store URL` writes until it listens (then it is stopped) or exits. */
async function proxyOutput(url: string): Promise<string> {
  if (running >= 3) await new Promise<void>((resolve) => waiting.push(resolve));
  running++;
  try {
    return await runProxy(url);
  } finally {
    running--;
    waiting.shift()?.();
  }
}

async function runProxy(url: string): Promise<string> {
  const args = ["proxy", "--upstream", "http://127.0.0.1:9", "--route", "POST /x", "--port", "0", "--store", url];
  const env = { ...process.env };
  delete env.ONCELY_STORE;
  const child = spawn(process.execPath, [await cliScript(), ...args], { cwd: dir, env });
  let output = "";
  return new Promise((resolve) => {
    const read = (chunk: Buffer) => {
      output += chunk;
      if (output.includes("oncely proxy listening")) child.kill("SIGTERM");
    };
    child.stdout.on("data", read);
    child.stderr.on("data", read);
    child.on("close", () => resolve(output));
  });
}
