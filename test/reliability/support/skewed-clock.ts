/**
 * Preloaded (`--import`) into a clock-skew worker: moves this process's wall clock by ONCELY_CLOCK_SKEW_MS, as a host
 * whose clock is off would be. `Date.now()` and `new Date()` both move; `performance.now()` (monotonic, used for
 * durations) does not, as on a real host.
 */
const skew = Number(process.env.ONCELY_CLOCK_SKEW_MS ?? 0);
const RealDate = Date;

class SkewedDate extends RealDate {
  constructor(...args: unknown[]) {
    if (args.length === 0) super(RealDate.now() + skew);
    else super(...(args as [string | number]));
  }

  static override now(): number {
    return RealDate.now() + skew;
  }
}

globalThis.Date = SkewedDate as DateConstructor;
