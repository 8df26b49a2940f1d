/** Delta-seconds: RFC 9110 says 1*DIGIT; a fraction is tolerated (some servers send `1.5`), a sign is not. */
const DELTA_SECONDS = /^\d+(?:\.\d+)?$/;

/**
 * Milliseconds a `Retry-After` value asks the client to wait: delta-seconds (`"120"`) or an HTTP-date
 * (`"Wed, 21 Oct 2026 07:28:00 GMT"`). A date is measured against the response's own `Date` header when it has one,
 * so a client whose clock runs ahead of the server's still waits long enough; otherwise against the local clock.
 * A date in the past means "now" (0). Anything else is `undefined`: no advice.
 *
 * @example
 * parseRetryAfter("2");                                  // 2000
 * parseRetryAfter("Wed, 21 Oct 2026 07:28:00 GMT", now); // ms until then
 */
export function parseRetryAfter(
  value: string | null | undefined,
  now: number = Date.now(),
  responseDate?: string | null,
): number | undefined {
  const text = value?.trim() ?? "";
  if (DELTA_SECONDS.test(text)) return Math.ceil(Number(text) * 1000);
  // Every HTTP-date form names a day or a month; without letters, Date.parse would take "-1" for a year.
  const at = /[a-z]/i.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(at)) return undefined;
  const sent = Date.parse(responseDate ?? "");
  // `Date` has one-second resolution and is never later than the moment the server wrote it, so measuring from it
  // can only lengthen the wait, never shorten it.
  const reference = Number.isNaN(sent) ? now : Math.min(sent, now);
  return Math.max(0, at - reference);
}
