// The request target, read once into the form the proxy both matches and forwards, so that its route rules and the
// upstream's router see the same path (RFC 9112 §3.2). A rule that does not match a request the upstream routes to
// a guarded handler would skip `required` and run one key twice.

/** A request target in origin-form: what the proxy matches, fingerprints and forwards. */
export interface RequestTarget {
  /** The path, normalised (see `readRequestTarget`). */
  path: string;
  /** The query string without `?`, as sent (empty when there is none). */
  query: string;
  /** `path` and, when the target had one, `?query`: the target sent upstream. */
  url: string;
  /** The host of an absolute-form target, which stands in for the `Host` header (RFC 9112 §3.2.2). */
  authority?: string;
}

const ABSOLUTE = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;

/**
 * Reads `req.url` into origin-form: an absolute-form target (`http://host/charges`, as clients send to a forward
 * proxy) becomes its path and query; a fragment is dropped (it is never part of a request); in the path, escapes of
 * unreserved characters are decoded (`%61` is `a`, RFC 3986 §6.2.2.2), backslashes become slashes and dot segments
 * are resolved, as a URL parser resolves them.
 *
 * @returns `undefined` for a target the proxy does not forward: the asterisk form (`OPTIONS *`), the authority form
 *   (`CONNECT host:443`), or an absolute URL that is not http(s)
 */
export function readRequestTarget(raw: string): RequestTarget | undefined {
  let authority: string | undefined;
  let rest: string;
  if (ABSOLUTE.test(raw)) {
    const parsed = URL.parse(raw);
    if (!parsed || (parsed.protocol !== "http:" && parsed.protocol !== "https:")) return undefined;
    authority = parsed.host;
    // What follows the authority, as sent; the URL parser accepted the authority, so it ends at the first of these.
    const start = raw.indexOf("//") + 2;
    const end = raw.slice(start).search(/[/\\?#]/);
    rest = end === -1 ? "/" : raw.slice(start + end);
    if (!rest.startsWith("/")) rest = `/${rest.startsWith("\\") ? rest.slice(1) : rest}`;
  } else if (raw.startsWith("/")) {
    rest = raw;
  } else {
    return undefined;
  }
  const hash = rest.indexOf("#");
  if (hash !== -1) rest = rest.slice(0, hash);
  const question = rest.indexOf("?");
  const rawPath = question === -1 ? rest : rest.slice(0, question);
  const query = question === -1 ? "" : rest.slice(question + 1);
  // The path through the URL parser on a fixed origin: a leading "//" stays a path, not a host.
  const path = new URL(`http://proxy.invalid${decodeUnreserved(rawPath)}`).pathname;
  const url = question === -1 || query === "" ? path : `${path}?${query}`;
  return { path, query, url, ...(authority === undefined ? {} : { authority }) };
}

const UNRESERVED = /[A-Za-z0-9._~-]/;

function decodeUnreserved(path: string): string {
  if (!path.includes("%")) return path;
  return path.replace(/%([0-9A-Fa-f]{2})/g, (escaped, hex: string) => {
    const char = String.fromCharCode(Number.parseInt(hex, 16));
    return UNRESERVED.test(char) ? char : escaped.toUpperCase();
  });
}

/**
 * The forms of a path a route rule is matched against: what mainstream routers may take it to mean. They differ:
 * Express matches without regard to case or a trailing slash by default, some collapse doubled slashes, some decode
 * `%2F` before routing (and then resolve the dot segments that makes) while others keep it inside one segment. A rule
 * matches if the request could be its route under any of them, so the proxy guards too much rather than too little:
 * a request it guards that the upstream does not route there is still answered by the upstream, and stored.
 */
export function routingForms(path: string): string[] {
  const kept = looseForm(path);
  if (!/%2f|%5c/i.test(path)) return [kept];
  return [kept, looseForm(new URL(`http://proxy.invalid${path.replace(/%2f|%5c/gi, "/")}`).pathname)];
}

function looseForm(path: string): string {
  const form = path.replace(/\/{2,}/g, "/").toLowerCase();
  return form.length > 1 && form.endsWith("/") ? form.slice(0, -1) : form;
}
