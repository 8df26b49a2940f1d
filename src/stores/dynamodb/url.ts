import { redactStoreUrl } from "../shared/redact-url.js";
import { StoreUrlError, splitQuery, takeParams, timeoutOf } from "../shared/store-url.js";
import type { DynamoDbStoreOptions } from "./index.js";

/**
 * `dynamodb://TABLE?region=eu-west-1&endpoint=http://localhost:8000`; `?timeout=`, nothing else.
 *
 * @param env Where the region is looked up when the URL has none (`AWS_REGION`, `AWS_DEFAULT_REGION`).
 */
export function parseDynamoDbUrl(
  url: string,
  env: Record<string, string | undefined>,
): DynamoDbStoreOptions & { region: string } {
  const [location, query = ""] = splitQuery(url.slice(url.indexOf(":") + 1));
  if (!location.startsWith("//")) throw new StoreUrlError(url, 'expected "dynamodb://TABLE?region=..."');
  // Read by hand: URL() lower-cases the host, and DynamoDB table names are case-sensitive.
  const table = location.slice(2).replace(/\/$/, "");
  if (table.includes("/")) throw new StoreUrlError(url, 'expected "dynamodb://TABLE?region=...", with no path');
  const params = takeParams(url, query, ["region", "endpoint", "timeout"], { strict: true });
  const region = params.known.get("region") || env.AWS_REGION || env.AWS_DEFAULT_REGION;
  if (!region) throw new StoreUrlError(url, "no region: add ?region=... (or set AWS_REGION)");
  const endpoint = params.known.get("endpoint");
  if (endpoint !== undefined && !URL.canParse(endpoint)) {
    throw new StoreUrlError(url, `\`endpoint\` is not a URL: ${JSON.stringify(redactStoreUrl(endpoint))}`);
  }
  return { region, ...(table ? { table } : {}), ...(endpoint ? { endpoint } : {}), ...timeoutOf(url, params) };
}
