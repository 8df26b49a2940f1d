import type { AxiosRequestConfig, AxiosResponse } from "axios";
import ky, { type Options } from "ky";
import { describe, expectTypeOf, it } from "vitest";
import type { withIdempotency as withAxiosIdempotency } from "../../src/client/axios.js";
import {
  type CallOptions,
  createClient,
  type IdempotencyInfo,
  type IdempotentFetch,
  idempotencyInfo,
  idempotentFetch,
  type RetryInfo,
} from "../../src/client/index.js";
import { idempotencyOptions } from "../../src/client/ky.js";

describe("public types", () => {
  it("the client has fetch's signature: it goes wherever a fetch is expected", () => {
    const asFetch: typeof fetch = createClient();
    expectTypeOf(asFetch).toBeFunction();
    expectTypeOf(idempotentFetch).toEqualTypeOf<IdempotentFetch>();
    expectTypeOf(idempotentFetch).returns.resolves.toEqualTypeOf<Response>();
    expectTypeOf<Parameters<IdempotentFetch>[1]>().toMatchTypeOf<RequestInit | undefined>();
  });

  it("per-call options ride in RequestInit, axios config and ky context", () => {
    expectTypeOf<NonNullable<Parameters<IdempotentFetch>[1]>["intent"]>().toEqualTypeOf<string | undefined>();
    expectTypeOf<NonNullable<Parameters<IdempotentFetch>[1]>["idempotencyKey"]>().toEqualTypeOf<
      string | false | undefined
    >();
    expectTypeOf<AxiosRequestConfig["idempotency"]>().toEqualTypeOf<CallOptions | undefined>();
    expectTypeOf(idempotencyOptions()).toEqualTypeOf<Options>();
    expectTypeOf(ky.create(idempotencyOptions())).toBeFunction();
  });

  it("idempotencyInfo reads any response object; onRetry sees the adapter's response type", () => {
    expectTypeOf(idempotencyInfo).parameter(0).toEqualTypeOf<object>();
    expectTypeOf(idempotencyInfo).returns.toEqualTypeOf<IdempotencyInfo | undefined>();
    type AxiosOnRetry = NonNullable<Parameters<typeof withAxiosIdempotency>[1]>["onRetry"];
    expectTypeOf<Parameters<NonNullable<AxiosOnRetry>>[0]>().toEqualTypeOf<RetryInfo<AxiosResponse>>();
  });
});
