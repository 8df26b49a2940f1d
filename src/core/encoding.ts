import { headerValue, type IdempotencyRequest } from "./request.js";
import type { ResponseData } from "./response.js";

/**
 * A stored body compressed for the first client (say `compression()` ran before oncely) is decoded before it is
 * replayed to a client whose `Accept-Encoding` does not take that coding. Where the runtime cannot decode the coding
 * (brotli without node:zlib), the stored body goes out as it is.
 */
export function fitEncoding(
  response: ResponseData,
  request: Pick<IdempotencyRequest, "headers">,
): ResponseData | Promise<ResponseData> {
  const index = response.headers.findIndex(([name]) => name === "content-encoding");
  if (index === -1) return response;
  const coding = response.headers[index]![1].trim().toLowerCase();
  // Accept-Encoding is read only here: most stored responses are not encoded, and a replay skips the lookup.
  if (coding === "identity" || accepts(headerValue(request, "accept-encoding"), coding)) return response;
  return decoded(response, coding);
}

/**
 * The response with its body decoded from `coding`. Apart from `fitEncoding`, which returns the (usual) response
 * that needs no decoding as it is, so a replay waits for no promise.
 */
async function decoded(response: ResponseData, coding: string): Promise<ResponseData> {
  const decode = (await import("./decoders.js")).DECODERS[coding];
  if (!decode) return response;
  const headers = response.headers.filter(([name]) => name !== "content-encoding");
  return { ...response, headers, body: await decode(response.body) };
}

function accepts(header: string | undefined, coding: string): boolean {
  if (!header) return false;
  for (const part of header.toLowerCase().split(",")) {
    const [name, ...params] = part.trim().split(";");
    const q = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
    if ((name === coding || name === "*") && (!q || Number(q.slice(2)) > 0)) return true;
  }
  return false;
}
