/**
 * Run plumbing shared by benchmarks: teardown, environment knobs, scratch resources, the signal-aware
 * entry point and a writer for one generated section of bench/RESULTS.md. (bench/run.ts has private copies
 * of the first few; they behave the same.)
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { Redis } from 'ioredis';
import pg from 'pg';

/** Teardown steps, run once, last added first; a failing step does not skip the others. */
export class Cleanup {
  private readonly steps: { name: string; fn: () => Promise<unknown> }[] = [];
  private readonly late: Promise<unknown>[] = [];
  private running?: Promise<boolean>;

  constructor(private readonly tag = 'bench') {}

  add(name: string, fn: () => Promise<unknown>): void {
    if (this.running) {
      // Something started while the run was being stopped (a signal during start-up): undo it, stop here.
      this.late.push(fn().catch(() => undefined));
      throw new Error(`stopping: ${name} started after cleanup began`);
    }
    this.steps.push({ name, fn });
  }

  async run(): Promise<boolean> {
    this.running ??= (async () => {
      let ok = true;
      for (const step of [...this.steps].reverse()) {
        try {
          await step.fn();
        } catch (err) {
          ok = false;
          console.error(`[${this.tag}] cleanup: ${step.name} failed: ${(err as Error).message}`);
        }
      }
      return ok;
    })();
    const ok = await this.running;
    while (this.late.length) await Promise.allSettled(this.late.splice(0));
    return ok;
  }
}

/** Fails the run at once, naming the service, when PostgreSQL or Redis does not answer. */
export async function requireServices(postgresUrl: string, redisUrl: string): Promise<void> {
  await must(`PostgreSQL at ${new URL(postgresUrl).host}`, async () => {
    const client = new pg.Client({ connectionString: postgresUrl });
    await client.connect();
    await client.end();
  });
  await must(`Redis at ${redisUrl}`, async () => {
    const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
    try {
      await redis.connect();
      await redis.ping();
    } finally {
      redis.disconnect();
    }
  });
}

export async function must<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new Error(`Benchmark prerequisite missing: ${what}: ${(err as Error).message}`);
  }
}

/** A numeric environment knob: `fallback` when unset or empty, an error when malformed. */
export function numberEnv(name: string, fallback: number, { integer = true, min = 1, max = Number.POSITIVE_INFINITY } = {}): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
    throw new Error(`${name}=${raw}: expected ${integer ? 'an integer' : 'a number'} in [${min}, ${max}]`);
  }
  return value;
}

/** Like numberEnv, but undefined when unset (the run then computes the value). */
export function optionalNumberEnv(name: string, opts: { integer?: boolean; min?: number; max?: number } = {}): number | undefined {
  const raw = process.env[name];
  return raw === undefined || raw === '' ? undefined : numberEnv(name, 0, opts);
}

export async function deleteRedisKeys(redisUrl: string, prefix: string): Promise<number> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  let deleted = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      if (keys.length) deleted += await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return deleted;
}

/** The database `name` on the server of `url`, keeping its user. */
export function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

const DETACHED = 'BENCH_DETACHED_RUN';

/**
 * Runs `main` with a Cleanup that always runs: on success, on failure, on SIGINT/SIGTERM/SIGHUP, and when the
 * watchdog (`timeoutMs`) fires. Exits with main's code, 1 on failure or a failed cleanup step, 130 on a signal.
 *
 * The run itself happens in a copy of this process started detached (its own process group), with this process
 * only forwarding signals and waiting. Reasons: `tsx` (the CLI) SIGKILLs its child when the child does not
 * acknowledge a SIGINT/SIGTERM within 30 ms, which a busy 2-core machine easily misses, and a terminal's Ctrl-C
 * (or `timeout`) signals the whole process group, services included. Detached, the run and the services it
 * spawned receive only what we forward, and if this process is killed outright, the run sees its stdin close
 * and cleans up anyway.
 */
export function runBench(tag: string, main: (cleanup: Cleanup) => Promise<number>, timeoutMs: number): void {
  if (process.env[DETACHED] !== '1') {
    const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
      detached: true,
      stdio: ['pipe', 'inherit', 'inherit'],
      env: { ...process.env, [DETACHED]: '1' },
    });
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => child.kill(signal));
    child.on('error', (err) => {
      console.error(`[${tag}] could not start the run: ${err.message}`);
      process.exit(1);
    });
    child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 + (osConstants.signals[signal] ?? 0) : 1)));
    return;
  }

  const cleanup = new Cleanup(tag);
  let exiting = false;
  const finish = async (code: number) => {
    if (exiting) return;
    exiting = true;
    console.log(`[${tag}] cleaning up…`);
    const ok = await cleanup.run();
    process.exit(code !== 0 ? code : ok ? 0 : 1);
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      console.error(`[${tag}] ${signal}: stopping`);
      void finish(130);
    });
  }
  // The launching process went away (killed): stop as on a signal.
  process.stdin.on('end', () => {
    if (exiting) return;
    console.error(`[${tag}] the launching process is gone: stopping`);
    void finish(130);
  });
  process.stdin.resume();
  setTimeout(() => {
    console.error(`[${tag}] watchdog: the run did not finish within ${Math.round(timeoutMs / 1000)} s, stopping`);
    void finish(1);
  }, timeoutMs);
  main(cleanup).then(
    (code) => finish(code),
    (err: unknown) => {
      // Once a signal has started the cleanup, the run failing because its processes went away is expected.
      if (!exiting) console.error(`[${tag}] failed:`, err instanceof Error ? (err.stack ?? err.message) : err);
      return finish(1);
    },
  );
}

/**
 * Replaces the text between `begin` and `end` in `file` (markers kept), leaving everything else as it is;
 * appends a marked block when the markers are missing, creates the file (with `preamble`) when it is.
 */
export function writeSection(target: string, begin: string, end: string, generated: string, preamble: string): void {
  // BENCH_RESULTS_FILE sends a run's section elsewhere (a profiling run must not overwrite the recorded figures).
  const file = process.env.BENCH_RESULTS_FILE || target;
  const block = `${begin}\n${generated}\n${end}`;
  if (!existsSync(file)) {
    writeFileSync(file, `${preamble}${block}\n`);
    return;
  }
  const current = readFileSync(file, 'utf8');
  const b = current.indexOf(begin);
  const e = b >= 0 ? current.indexOf(end, b) : -1;
  const next = b >= 0 && e >= 0 ? current.slice(0, b) + block + current.slice(e + end.length) : `${current.trimEnd()}\n\n${block}\n`;
  writeFileSync(file, next);
}
