/**
 * How big the fault tests run. `npm run test:reliability` is the bounded run (each file well inside CI's budget);
 * `npm run soak -- --minutes N` sets ONCELY_SOAK_MINUTES, and each test then scales up to its soak size and, where it
 * loops, keeps going until its share of the minutes is spent.
 */
const minutes = Number(process.env.ONCELY_SOAK_MINUTES ?? 0);

/** True in a soak run. */
export const soak = Number.isFinite(minutes) && minutes > 0;

/** The bounded figure, or the soak figure in a soak run. */
export function sized(bounded: number, soakSize: number): number {
  return soak ? soakSize : bounded;
}

/** A soak test's share of the soak run's minutes, in milliseconds (`share` of the whole, e.g. 0.25). */
export function soakMillis(share: number): number {
  return soak ? Math.round(minutes * 60_000 * share) : 0;
}

/** The seed for property tests: ONCELY_SEED replays a failure; otherwise a fresh one, printed by the caller. */
export const seed =
  process.env.ONCELY_SEED === undefined ? Date.now() % 2_147_483_647 : Number(process.env.ONCELY_SEED);
