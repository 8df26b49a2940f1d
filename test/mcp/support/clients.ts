import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

/** A connected SDK client on Streamable HTTP; `token` is sent as a bearer token. */
export async function httpClient(url: string, token?: string): Promise<Client> {
  const client = new Client({ name: "test-agent", version: "1.0.0" });
  const requestInit = token ? { headers: { authorization: `Bearer ${token}` } } : undefined;
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit }));
  return client;
}

/** A JSON-RPC error as the SDK client raises it; `data` as oncely sends it. */
export interface RpcError {
  code: number;
  message: string;
  data: { type: string; status: number; retryAfter?: number };
}

/** The JSON-RPC error a promise rejected with. */
export async function rpcError(promise: Promise<unknown>): Promise<RpcError> {
  try {
    await promise;
  } catch (error) {
    return error as RpcError;
  }
  throw new Error("expected a JSON-RPC error, got a result");
}
