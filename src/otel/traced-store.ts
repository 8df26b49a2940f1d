import {
  type Attributes,
  context,
  SpanKind,
  type SpanOptions,
  SpanStatusCode,
  type Tracer,
  trace,
} from "@opentelemetry/api";
import {
  type ClaimResult,
  isTransactionalStore,
  type Store,
  type StoreTransaction,
  type TransactionalClaimResult,
} from "../core/store.js";
import { errorType } from "./error-type.js";
import type { Instruments } from "./instruments.js";
import {
  ATTR_ERROR_TYPE,
  ATTR_ONCELY_STORE_NAME,
  ATTR_ONCELY_STORE_OPERATION_NAME,
  ATTR_ONCELY_STORE_OUTCOME,
  ATTR_ONCELY_TOKEN,
  storeSpanName,
} from "./names.js";

type Describe<T> = (value: T) => Attributes | undefined;

const claimOutcome: Describe<ClaimResult | TransactionalClaimResult> = (result) =>
  result.status === "claimed"
    ? { [ATTR_ONCELY_STORE_OUTCOME]: "claimed", [ATTR_ONCELY_TOKEN]: result.token }
    : { [ATTR_ONCELY_STORE_OUTCOME]: result.status };
const HELD = { [ATTR_ONCELY_STORE_OUTCOME]: "held" };
const LOST = { [ATTR_ONCELY_STORE_OUTCOME]: "lost" };
const heldOutcome: Describe<boolean> = (held) => (held ? HELD : LOST);

/**
 * Wraps a store so that every operation is a span (a child of the active context: the request's span when the
 * engine is instrumented) and a point of the `oncely.store.operation.duration` histogram. The wrapper is a Proxy:
 * the store's `name`, its own methods (`migrate()`, `createTable()`) and `claimInTransaction` (only when the store has
 * it, so the engine still sees whether it is transactional) stay as they are.
 */
export function tracedStore<S extends Store>(store: S, tracer: Tracer, instruments: () => Instruments): S {
  const storeName = store.name;
  const kind = storeName === "memory" ? SpanKind.INTERNAL : SpanKind.CLIENT;
  const nestDriverSpans = kind === SpanKind.CLIENT;
  // Built once per operation, reused by every call: the SDK copies what it keeps.
  const operations = new Map<string, { name: string; options: SpanOptions }>();
  const describeOperation = (operation: string) => {
    let described = operations.get(operation);
    if (!described) {
      const attributes = { [ATTR_ONCELY_STORE_NAME]: storeName, [ATTR_ONCELY_STORE_OPERATION_NAME]: operation };
      described = { name: storeSpanName(operation), options: { kind, attributes } };
      operations.set(operation, described);
    }
    return described;
  };

  function operate<T>(operation: string, call: () => Promise<T>, describe?: Describe<T>): Promise<T> {
    const { name, options } = describeOperation(operation);
    const attributes = options.attributes!;
    const start = performance.now();
    const span = tracer.startSpan(name, options);
    let pending: Promise<T>;
    try {
      // A networked store runs inside the span's context, so its driver's own instrumentation (pg, ioredis) nests
      // under the operation; the memory store has no driver to nest, and a context per call is not free.
      pending = nestDriverSpans ? context.with(trace.setSpan(context.active(), span), call) : call();
    } catch (error) {
      pending = Promise.reject(error);
    }
    return pending.then(
      (value) => {
        const described = describe?.(value);
        if (described && span.isRecording()) span.setAttributes(described);
        span.end();
        instruments().storeOperationDuration.record((performance.now() - start) / 1000, attributes);
        return value;
      },
      (error: unknown) => {
        const type = errorType(error);
        if (span.isRecording()) {
          span.recordException(error instanceof Error ? error : String(error));
          span.setAttribute(ATTR_ERROR_TYPE, type);
          span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error)?.message });
        }
        span.end();
        instruments().storeOperationDuration.record((performance.now() - start) / 1000, {
          ...attributes,
          [ATTR_ERROR_TYPE]: type,
        });
        throw error;
      },
    );
  }

  const tracedTransaction = (transaction: StoreTransaction): StoreTransaction => ({
    get client() {
      return transaction.client;
    },
    commit: (response, ttl) => operate("commit", () => transaction.commit(response, ttl)),
    rollback: () => operate("rollback", () => transaction.rollback()),
  });

  const traced: Partial<Record<PropertyKey, unknown>> = {
    claim: ((id, fingerprint, options) =>
      operate("claim", () => store.claim(id, fingerprint, options), claimOutcome)) satisfies Store["claim"],
    renew: ((id, token, lease) =>
      operate("renew", () => store.renew(id, token, lease), heldOutcome)) satisfies Store["renew"],
    complete: ((id, token, response, ttl) =>
      operate("complete", () => store.complete(id, token, response, ttl), heldOutcome)) satisfies Store["complete"],
    release: ((id, token) =>
      operate("release", () => store.release(id, token), heldOutcome)) satisfies Store["release"],
    get: ((id) => operate("get", () => store.get(id))) satisfies Store["get"],
    delete: ((id) => operate("delete", () => store.delete(id))) satisfies Store["delete"],
    list: ((options) => operate("list", () => store.list(options))) satisfies Store["list"],
    purgeExpired: ((options) =>
      operate("purge_expired", () => store.purgeExpired(options))) satisfies Store["purgeExpired"],
    close: (() => operate("close", () => store.close())) satisfies Store["close"],
  };
  if (isTransactionalStore(store)) {
    traced.claimInTransaction = ((id, fingerprint, options) =>
      operate(
        "claim_in_transaction",
        async () => {
          const result = await store.claimInTransaction(id, fingerprint, options);
          return result.status === "claimed"
            ? { ...result, transaction: tracedTransaction(result.transaction) }
            : result;
        },
        claimOutcome,
      )) satisfies typeof store.claimInTransaction;
  }

  return new Proxy(store, {
    get(target, property) {
      if (Object.hasOwn(traced, property)) return traced[property];
      // The store's own members run on the store itself: class stores keep their state in private fields.
      const value = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
