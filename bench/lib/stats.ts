/** Figures of one measurement, and how rounds are combined. Latencies in milliseconds. */

export interface Sample {
  /** Successful requests per second over the measured wall time. */
  rps: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  /** Successful requests. */
  ok: number;
  /** Failed requests (transport errors, timeouts, non-2xx answers). */
  errors: number;
  /** Measured wall time, seconds. */
  seconds: number;
  /** Open loop only: requests sent behind their schedule or not sent at all (see measureOpenLoop). */
  late?: number;
  firstError?: string;
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** The one way every measurement (autocannon or measureLoop) turns raw latencies into figures. */
export function summarize(latenciesMs: readonly number[], errors: number, seconds: number, firstError?: string): Sample {
  const sorted = Float64Array.from(latenciesMs).sort();
  return {
    rps: seconds > 0 ? sorted.length / seconds : 0,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1]! : Number.NaN,
    ok: sorted.length,
    errors,
    seconds,
    ...(firstError === undefined ? {} : { firstError }),
  };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Each figure is the median of that figure over the rounds (not the figures of a median round). */
export function medianSample(samples: readonly Sample[]): Sample {
  const m = (pick: (s: Sample) => number) => median(samples.map(pick));
  const firstError = samples.find((s) => s.firstError !== undefined)?.firstError;
  return {
    rps: m((s) => s.rps),
    p50: m((s) => s.p50),
    p95: m((s) => s.p95),
    p99: m((s) => s.p99),
    max: m((s) => s.max),
    ok: samples.reduce((sum, s) => sum + s.ok, 0),
    errors: samples.reduce((sum, s) => sum + s.errors, 0),
    seconds: samples.reduce((sum, s) => sum + s.seconds, 0),
    ...(samples.some((s) => s.late !== undefined) ? { late: samples.reduce((sum, s) => sum + (s.late ?? 0), 0) } : {}),
    ...(firstError === undefined ? {} : { firstError }),
  };
}

export function describeError(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`.slice(0, 300);
  return String(err).slice(0, 300);
}

/** Nearest-rank p50/p95/p99 and the maximum of raw latencies (ms), in any order. */
export function latencyFigures(latencies: readonly number[]) {
  const sorted = Float64Array.from(latencies).sort();
  return {
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1]! : Number.NaN,
  };
}

/** Receipts per second among `times` (epoch ms) within [from, to]. */
export function rateWithin(times: Iterable<number>, from: number, to: number): number {
  let n = 0;
  for (const t of times) if (t >= from && t <= to) n++;
  return to > from ? (n * 1000) / (to - from) : Number.NaN;
}
