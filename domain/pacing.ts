/**
 * Paces a series of jobs to at most one per `intervalMs`: `delay()` says how long to wait before starting the next one.
 * A job that ran long is not made up for with a burst afterwards: the next slot is counted from when it could start.
 * Pure (the clock is passed in), so background work can be kept to a share of the machine and tested without waiting.
 */
export function pacer(intervalMs: number, now: () => number): { delay(): number } {
  let next = Number.NEGATIVE_INFINITY;
  return {
    delay() {
      if (!(intervalMs > 0)) return 0;
      const t = now();
      const wait = Math.max(0, next - t);
      next = Math.max(next, t) + intervalMs;
      return wait;
    },
  };
}
