// Store and upstream URLs carry passwords: in their userinfo (`redis://:pw@host`), or in a parameter the drivers read
// (`?password=`: pg, mysql2 and ioredis all take one). The CLI prints these URLs in its error lines and the proxy's
// startup log, so it prints them through here. The parse is defensive: a password may hold "@", "/", "?" or "#", and
// a mistyped URL (`redis:/u:pw@host`, `redis//u:pw@host`) is read by no parser the way its author meant; so whatever
// after the scheme could be a password is shown only when the URL splits cleanly into authority and the rest.

/** Query parameters whose values are secrets (`password`, `sslpassword`, `token`, `sslkey`, `auth`...). */
const SECRET_PARAM = /pass|pwd|secret|token|key|auth|credential/i;
const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;
/** Shorter strings are not scrubbed from free text: they would mangle ordinary words and gain nothing. */
const MIN_SECRET_LENGTH = 4;

/**
 * The URL with any password replaced by `***`, for messages and logs. Leading and trailing spaces are kept (they are
 * often the mistake being reported). Anything after the scheme that could hold a password (an "@" outside a cleanly
 * split authority) shows as `***`.
 *
 * @example redactStoreUrl("postgres://u:p@ss@db/app?sslmode=require") // "postgres://u:***@db/app?sslmode=require"
 * @example redactStoreUrl("redis:/u:pw@host") // "redis:***"
 */
export function redactStoreUrl(url: string): string {
  const text = String(url);
  const start = text.length - text.trimStart().length;
  const end = text.trimEnd().length;
  if (end <= start) return text;
  return text.slice(0, start) + redactTrimmed(text.slice(start, end)) + text.slice(end);
}

function redactTrimmed(url: string): string {
  const scheme = SCHEME.exec(url)?.[0];
  if (scheme === undefined) return url.includes("@") ? "***" : redactParams(url);
  const rest = url.slice(scheme.length);
  if (!rest.startsWith("//")) return rest.includes("@") ? `${scheme}***` : scheme + redactParams(rest);
  const { authority, tail } = splitAuthority(rest);
  // An "@" after the authority could end a password that held "/", "?" or "#": nothing after the scheme is safe.
  if (tail.includes("@")) return `${scheme}//***`;
  const at = authority.lastIndexOf("@");
  if (at === -1) return `${scheme}//${authority}${redactParams(tail)}`;
  const userinfo = authority.slice(0, at);
  const colon = userinfo.indexOf(":");
  const user = colon === -1 ? userinfo : `${userinfo.slice(0, colon)}:***`;
  return `${scheme}//${user}${authority.slice(at)}${redactParams(tail)}`;
}

/** `//authority` and what follows it: the authority ends at the first "/", "\", "?" or "#". */
function splitAuthority(rest: string): { authority: string; tail: string } {
  const end = rest.slice(2).search(/[/\\?#]/);
  return end === -1
    ? { authority: rest.slice(2), tail: "" }
    : { authority: rest.slice(2, end + 2), tail: rest.slice(end + 2) };
}

function redactParams(text: string): string {
  const question = text.indexOf("?");
  if (question === -1) return text;
  const params = text
    .slice(question + 1)
    .split("&")
    .map((param) => {
      const equals = param.indexOf("=");
      return equals !== -1 && SECRET_PARAM.test(decoded(param.slice(0, equals)))
        ? `${param.slice(0, equals)}=***`
        : param;
    });
  return `${text.slice(0, question + 1)}${params.join("&")}`;
}

/**
 * The strings in a URL that must never be printed, as written and decoded: the password of its userinfo (as a
 * careful parser reads it, and as a careless one would: everything from the first ":" after the scheme to the last
 * "@"), and the values of password parameters. Error lines scrub them from what a driver said, whatever it parsed.
 */
export function storeUrlSecrets(url: string): string[] {
  const text = String(url).trim();
  const secrets = new Set<string>();
  const add = (value: string | undefined) => {
    if (value === undefined) return;
    for (const form of [value, decoded(value)]) if (form.length >= MIN_SECRET_LENGTH) secrets.add(form);
  };
  const afterScheme = text.replace(SCHEME, "").replace(/^\/\//, "");
  const at = afterScheme.lastIndexOf("@");
  if (at !== -1) {
    const userinfo = afterScheme.slice(0, at);
    const colon = userinfo.indexOf(":");
    if (colon !== -1) add(userinfo.slice(colon + 1));
  }
  const parsed = URL.parse(text);
  if (parsed?.password) add(parsed.password);
  const question = text.indexOf("?");
  if (question !== -1) {
    for (const param of text.slice(question + 1).split(/[&#]/)) {
      const equals = param.indexOf("=");
      if (equals !== -1 && SECRET_PARAM.test(decoded(param.slice(0, equals)))) add(param.slice(equals + 1));
    }
  }
  // Longest first, so that scrubbing one never leaves part of a longer one behind.
  return [...secrets].sort((a, b) => b.length - a.length);
}

/** Replaces every secret in `text` with `***`. */
export function scrubSecrets(text: string, secrets: readonly string[]): string {
  let scrubbed = text;
  for (const secret of secrets) scrubbed = scrubbed.replaceAll(secret, "***");
  return scrubbed;
}

function decoded(text: string): string {
  try {
    return decodeURIComponent(text.replaceAll("+", " "));
  } catch {
    return text;
  }
}
