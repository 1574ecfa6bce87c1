/**
 * The two load generators. Both record each successful request's latency (hrtime, ms) and hand the raw
 * latencies to `summarize`, so percentiles are computed the same way everywhere.
 */
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import { describeError, percentile, type Sample, summarize } from './stats';

export interface LoopOptions {
  /** Concurrent async clients, each doing one request at a time. */
  concurrency: number;
  durationMs: number;
  /** One request; resolves on success, throws on failure. `seq` is unique within the loop. */
  op: (client: number, seq: number) => Promise<void>;
}

/**
 * Closed-loop load: `concurrency` clients each repeat `op` until the duration is over; requests in flight
 * at the deadline are finished and counted. Used for both sides of the create benchmark.
 */
export async function measureLoop({ concurrency, durationMs, op }: LoopOptions): Promise<Sample> {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let seq = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(durationMs * 1e6));

  const client = async (id: number) => {
    while (process.hrtime.bigint() < deadline) {
      const t0 = process.hrtime.bigint();
      try {
        await op(id, seq++);
        latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      } catch (err) {
        errors++;
        firstError ??= describeError(err);
        await sleep(10); // a failing target must not turn the loop into a busy spin
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, id) => client(id)));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return summarize(latencies, errors, seconds, firstError);
}

export interface CannonOptions {
  url: string;
  connections: number;
  durationS: number;
  headers: Record<string, string>;
}

/** Open-connection HTTP load with autocannon (keep-alive, no pipelining); latencies from its `response` events. */
export async function measureAutocannon({ url, connections, durationS, headers }: CannonOptions): Promise<Sample> {
  const latencies: number[] = [];
  let firstError: string | undefined;
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon({ url, connections, duration: durationS, headers, method: 'GET', pipelining: 1, timeout: 10 }, (err, res) =>
      err ? reject(err) : resolve(res),
    );
    instance.on('response', (_client, statusCode, _bytes, responseTimeMs) => {
      if (statusCode >= 200 && statusCode < 300) latencies.push(responseTimeMs);
      else firstError ??= `HTTP ${statusCode}`;
    });
    instance.on('reqError', (err: unknown) => {
      firstError ??= describeError(err);
    });
  });
  return summarize(latencies, result.errors + result.non2xx, result.duration, firstError);
}

/** Runs `fn` over 0..n-1 with at most `concurrency` in flight. */
export async function forEachLimited(n: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

/** A keep-alive JSON POST; resolves with the parsed body of a 2xx answer, throws otherwise. */
export function postJson(agent: http.Agent, url: URL, headers: Record<string, string>, body: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: 'POST',
        agent,
        headers: { ...headers, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status < 200 || status >= 300) return reject(new Error(`HTTP ${status}: ${text.slice(0, 200)}`));
          try {
            resolve(text ? JSON.parse(text) : undefined);
          } catch (err) {
            reject(err);
          }
        });
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error('request timed out after 30 s')));
    req.on('error', reject);
    req.end(body);
  });
}

export interface OpenLoopResult {
  startedAt: number;
  endedAt: number;
  offered: number;
  /** Starts skipped because `maxInFlight` operations were running. */
  skipped: number;
  errors: number;
  firstError?: string;
}

/**
 * Calls `op(scheduledAt)` every 1000/`rate` ms for `seconds` (skipping while `maxInFlight` are running), then waits
 * for those in flight. Throws when more than 1 % (at least 5) failed, unless `tolerateErrors` (a saturation step
 * whose errors are a figure).
 */
export async function openLoop(
  rate: number,
  seconds: number,
  maxInFlight: number,
  op: (scheduledAt: number) => Promise<void>,
  health: () => void,
  { tolerateErrors = false } = {},
): Promise<OpenLoopResult> {
  const startedAt = Date.now();
  const until = startedAt + seconds * 1000;
  const inFlight = new Set<Promise<void>>();
  let offered = 0;
  let skipped = 0;
  let errors = 0;
  let firstError: string | undefined;
  for (let next = startedAt; next < until; next += 1000 / rate) {
    if (next > Date.now()) await sleep(next - Date.now());
    health();
    offered++;
    if (inFlight.size >= maxInFlight) {
      skipped++;
      continue;
    }
    const p: Promise<void> = op(next)
      .catch((err: unknown) => {
        errors++;
        firstError ??= err instanceof Error ? err.message : String(err);
      })
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  }
  const endedAt = Date.now();
  await Promise.all(inFlight);
  if (!tolerateErrors && errors > Math.max(5, offered * 0.01)) throw new Error(`${errors} of ${offered} load operations failed (first: ${firstError})`);
  return { startedAt, endedAt, offered, skipped, errors, ...(firstError === undefined ? {} : { firstError }) };
}

/** A request sent this long after its scheduled time counts as late (the generator or the in-flight cap held it). */
export const LATE_MS = 20;

export interface OpenLoopSampleOptions {
  /** Requests per second offered, on a fixed schedule whatever the answers take. */
  rate: number;
  durationS: number;
  /** Requests in flight beyond which a scheduled request is not sent (counted late and failed). */
  maxInFlight: number;
  op: () => Promise<void>;
  health: () => void;
  /** Called with each successful request's scheduled time (epoch ms) and latency (ms). */
  record?: (scheduledAt: number, ms: number) => void;
}

/**
 * Open-loop load as a Sample: `op` is started every 1000/`rate` ms for `durationS` (openLoop), and each request's
 * latency runs from its scheduled time, so time spent waiting behind a slow server or a late generator is counted
 * (no coordinated omission). `rps` is the rate served: successful requests ÷ time from the first scheduled request to
 * the last answer. `errors` counts failed requests and requests not sent (in-flight cap); `late` counts requests sent
 * ≥ LATE_MS behind schedule plus those not sent.
 */
export async function measureOpenLoop({ rate, durationS, maxInFlight, op, health, record }: OpenLoopSampleOptions): Promise<Sample> {
  const latencies: number[] = [];
  let late = 0;
  let lastDone = 0;
  const load = await openLoop(
    rate,
    durationS,
    maxInFlight,
    async (scheduledAt) => {
      const behind = Math.max(0, Date.now() - scheduledAt);
      if (behind >= LATE_MS) late++;
      const t0 = process.hrtime.bigint();
      await op();
      const ms = behind + Number(process.hrtime.bigint() - t0) / 1e6;
      latencies.push(ms);
      record?.(scheduledAt, ms);
      lastDone = Date.now();
    },
    health,
    { tolerateErrors: true },
  );
  const seconds = (Math.max(lastDone, load.endedAt) - load.startedAt) / 1000;
  const sample = summarize(
    latencies,
    load.errors + load.skipped,
    seconds,
    load.firstError ?? (load.skipped ? `${load.skipped} not sent (${maxInFlight} in flight)` : undefined),
  );
  return { ...sample, late: late + load.skipped };
}

/** The p95 (ms) of the requests whose scheduled time fell in [fromS, toS) seconds after `t0` (epoch ms). */
export function windowP95(points: { scheduledAt: number; ms: number }[], t0: number, fromS: number, toS: number): number {
  const inside = points.filter((p) => p.scheduledAt >= t0 + fromS * 1000 && p.scheduledAt < t0 + toS * 1000);
  return percentile(Float64Array.from(inside.map((p) => p.ms)).sort(), 95);
}
