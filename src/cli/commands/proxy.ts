import { type Command, Option } from "commander";
import { createIdempotency, type Idempotency } from "../../core/engine.js";
import { StoreError } from "../../core/errors.js";
import type { Store } from "../../core/store.js";
import { type ErrorLineContext, ExitCode, errorLine, exitCodeFor, UsageError } from "../errors.js";
import { openStore } from "../open-store.js";
import { collect, credentialHeader, duration, exitCodesHelp, headerName, wholeNumber } from "../options.js";
import { loadProxyConfig, type RouteConfig, routeFromFlag, toProxyRoute } from "../proxy/config.js";
import { batchedWriter, logDecisions, logProxy } from "../proxy/decision-log.js";
import { checkHealth } from "../proxy/health.js";
import { createProxy, type OncelyProxy } from "../proxy/proxy.js";
import { serve } from "../proxy/serve.js";
import type { CliIo } from "../session.js";
import { DEFAULT_STORE_URL, parseStoreUrl, redactStoreUrl, storeUrlSecrets } from "../store-url.js";

interface ProxyCommandOptions {
  upstream: string;
  port: number;
  host: string;
  store: string;
  route?: string[];
  config?: string;
  scopeHeader?: string;
  credentialHeader?: string[];
  credentialScope: boolean;
  ttl?: number;
  required?: boolean;
  upstreamTimeout: number;
  drainTimeout: number;
  storeTimeout: number;
  healthPath: string;
  logRawKeys?: boolean;
}

export function registerProxy(program: Command, io: CliIo, setExit: (code: number) => void): Command {
  return program
    .command("proxy")
    .summary("a reverse proxy that makes the routes you name idempotent")
    .description(
      "Run a reverse proxy in front of an HTTP service and apply oncely to the routes named by --route or --config: " +
        "a request with an Idempotency-Key runs upstream at most once, and its retries get the stored response " +
        "(Idempotent-Replayed: true), 409 while it runs, 422 for a different request under the same key. Every other " +
        "request passes through untouched, streamed both ways.\n\n" +
        'Route patterns: "*" is one path segment, a final "**" the rest ("POST /charges/**"). The first rule that ' +
        "matches wins, and the pattern is the route's name in events and logs. A rule matches every spelling some " +
        "router takes for its path (any case, a trailing or doubled slash, %2F decoded or not). The target is read " +
        "once: absolute-form becomes origin-form, dot segments are resolved, and the proxy matches and forwards that " +
        "same path.\n\n" +
        "Scope: a stored response is replayed only to a caller with the same credential. By default a record " +
        "belongs to (the --scope-header value, a hash of the Authorization header): a caller without the token never " +
        "gets the account's answer, and the upstream's refusal of that caller is never stored for the account. Name " +
        'what your upstream checks with --credential-header (X-Api-Key, "cookie:session"); --no-credential-scope ' +
        "scopes by --scope-header alone.\n\n" +
        "Logs: one JSON line per decision on stdout (keys as SHA-256 prefixes). Health: GET --health-path answers " +
        '200 {"status":"ok"} while the store answers, 503 otherwise, and nothing more (the cause goes to the log). ' +
        "SIGTERM or SIGINT: stop accepting, wait up to --drain-timeout " +
        "for requests under way (a second signal stops the wait), release the claims of those still running, exit 0.",
    )
    .requiredOption("--upstream <url>", "the service to proxy to: http://127.0.0.1:3000 (a path is put in front)")
    .option("-p, --port <n>", "the port to listen on (0: any free port)", wholeNumber(0), 8080)
    .option("--host <address>", "the address to listen on (0.0.0.0 for every interface)", "127.0.0.1")
    .addOption(
      new Option("-s, --store <url>", "the store: see `oncely --help` for store URLs")
        .env("ONCELY_STORE")
        .default(DEFAULT_STORE_URL),
    )
    .option("-r, --route <rule>", 'a route to guard: "POST /charges", "POST /charges/*" (repeatable)', collect)
    .option("-c, --config <file>", "a JSON file of routes with their options (see below)")
    .option(
      "--scope-header <name>",
      "the header naming the principal (account, API key), any case; stored only hashed",
      headerName,
    )
    .option(
      "--credential-header <name>",
      'what the upstream checks to know the caller (repeatable; "cookie:NAME" for one cookie); default Authorization',
      credentialHeader,
    )
    .option("--no-credential-scope", "scope by --scope-header alone: a replay may reach a caller without credentials")
    .option("--ttl <duration>", 'how long responses are kept: "24h" (default), "7d"', duration)
    .option("--required", "answer 400 to a guarded request without an Idempotency-Key")
    .addOption(
      new Option(
        "--upstream-timeout <duration>",
        "the longest wait for upstream headers, and between body chunks (504)",
      )
        .argParser(duration)
        .default(30_000, "30s"),
    )
    .addOption(
      new Option("--drain-timeout <duration>", "the longest wait for requests under way at shutdown")
        .argParser(duration)
        .default(10_000, "10s"),
    )
    .addOption(
      new Option("--store-timeout <duration>", "the longest a store call may take before a 503")
        .argParser(duration)
        .default(1_000, "1s"),
    )
    .option("--health-path <path>", "where GET answers the proxy's health", "/.oncely/health")
    .option("--log-raw-keys", "log Idempotency-Keys beside their hashes")
    .addHelpText(
      "after",
      "\nConfig file (--config), JSON; --scope-header, --credential-header, --ttl and --required apply to routes\n" +
        "that set none:\n" +
        '  { "routes": [\n' +
        '      { "route": "POST /charges", "required": true, "scopeHeader": "X-Account-Id" },\n' +
        '      { "route": "POST /carts/*/checkout", "credentialHeaders": ["cookie:session"] },\n' +
        '      { "route": "POST /charges/*/refunds", "ttl": "7d", "onInFlight": "wait" } ] }\n' +
        "  Route fields: route, ttl, lease, required, scopeHeader, credentialHeaders ([] to opt out),\n" +
        "  onInFlight, waitTimeout,\n" +
        "  maxRequestBytes, maxResponseBytes (1 MiB: larger responses are delivered, not kept),\n" +
        '  fingerprintHeaders, rateLimit (false, or { "max": 100, "window": "10s" } per key).\n' +
        "\nExamples:\n" +
        '  oncely proxy --upstream http://127.0.0.1:3000 --route "POST /charges" --store redis://127.0.0.1:6379\n' +
        "  oncely proxy --upstream http://app:3000 --config oncely.json --host 0.0.0.0 --port 8080\n" +
        exitCodesHelp([
          [0, "stopped by SIGTERM or SIGINT after draining"],
          [1, "usage error (bad option, no routes, bad config file, bad store URL, port unavailable)"],
          [3, "the store could not be opened or reached at startup"],
        ]),
    )
    .action(async (options: ProxyCommandOptions) => {
      setExit(await runProxy(io, options));
    });
}

async function runProxy(io: CliIo, options: ProxyCommandOptions): Promise<number> {
  const context: ErrorLineContext = {
    defaultStore: options.store === DEFAULT_STORE_URL,
    storeUrl: redactStoreUrl(options.store),
    secrets: [...storeUrlSecrets(options.store), ...storeUrlSecrets(options.upstream)],
  };
  const write = batchedWriter((text) => io.stdout.write(text));
  let store: Store | undefined;
  let idem: Idempotency | undefined;
  let proxy: OncelyProxy | undefined;
  try {
    const routes = routeConfigs(options);
    const upstream = URL.parse(options.upstream);
    if (!upstream || !/^https?:$/.test(upstream.protocol) || upstream.search || upstream.hash) {
      throw new UsageError(
        `--upstream: expected an http:// or https:// URL without a query, got "${redactStoreUrl(options.upstream)}"`,
      );
    }
    // The proxy forwards each client's own credentials; a password in this URL would never be sent.
    if (upstream.username || upstream.password) {
      throw new UsageError(
        `--upstream: credentials in the URL are not sent upstream; remove them: "${redactStoreUrl(options.upstream)}"`,
      );
    }
    if (!options.healthPath.startsWith("/")) throw new UsageError('--health-path: expected a path starting with "/"');
    const spec = parseStoreUrl(options.store, io.env);
    store = await openStore(spec, { url: options.store });
    idem = usage(() =>
      createIdempotency({
        store: store!,
        storeTimeout: options.storeTimeout,
        onEvent: logDecisions(write, { rawKey: options.logRawKeys === true }),
      }),
    );
    if (!options.credentialScope && options.credentialHeader) {
      throw new UsageError("--credential-header and --no-credential-scope contradict each other: pass one");
    }
    const defaults = {
      ttl: options.ttl,
      required: options.required,
      scopeHeader: options.scopeHeader,
      credentialHeaders: options.credentialScope ? options.credentialHeader : [],
    };
    proxy = usage(() =>
      createProxy({
        idem: idem!,
        upstream: options.upstream,
        routes: routes.map((route) => toProxyRoute(route, defaults)),
        upstreamTimeout: options.upstreamTimeout,
        healthPath: options.healthPath,
        healthTimeout: options.storeTimeout,
        log: logProxy(write),
      }),
    );
    const health = await checkHealth(store, options.storeTimeout, false);
    if (health.status !== "ok") throw new StoreError(store.name, "probe", `failed: ${health.error}`);
    const serving = await serve({
      proxy,
      idem,
      host: options.host,
      port: options.port,
      drainTimeout: options.drainTimeout,
      log: logProxy(write),
    }).catch((error: NodeJS.ErrnoException) => {
      throw new UsageError(`cannot listen on ${options.host}:${options.port}: ${error.code ?? error.message}`);
    });
    logProxy(write)({
      level: "info",
      msg: `oncely proxy listening on ${serving.url}`,
      proxy: {
        url: serving.url,
        upstream: redactStoreUrl(options.upstream),
        store: redactStoreUrl(options.store),
        routes: routes.map((route) => route.route),
      },
    });
    await serving.stopped;
    write.flush();
    return ExitCode.ok;
  } catch (error) {
    write.flush();
    io.stderr.write(`${errorLine(error, context)}\n`);
    if (io.env.ONCELY_DEBUG && error instanceof Error) io.stderr.write(`${error.stack}\n`);
    await proxy?.close().catch(() => {});
    await (idem ?? store)?.close().catch(() => {});
    return exitCodeFor(error);
  }
}

/** The routes from --config, then --route; at least one. */
function routeConfigs(options: ProxyCommandOptions): RouteConfig[] {
  const routes = [
    ...(options.config === undefined ? [] : loadProxyConfig(options.config)),
    ...(options.route ?? []).map(routeFromFlag),
  ];
  if (routes.length === 0) {
    throw new UsageError('no routes to guard: pass --route "POST /charges" (repeatable) or --config FILE');
  }
  return routes;
}

/** Runs a setup step whose TypeError (an option the engine or the proxy refuses) is a usage error. */
function usage<T>(step: () => T): T {
  try {
    return step();
  } catch (error) {
    if (error instanceof TypeError || (error as Error)?.name === "RoutePatternError") {
      throw new UsageError((error as Error).message);
    }
    throw error;
  }
}
