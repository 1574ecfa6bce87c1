/**
 * CPU time per request, by process: the side's own server, PostgreSQL (the postmaster and every backend) and
 * Redis, sampled from /proc over each measurement (Linux, local servers only). On a machine whose cores are shared
 * by the load generator, the services and the databases, throughput follows the CPU all of them spend per
 * request, so this splits what separates two sides into the API process's own work and the work it asks of
 * PostgreSQL and Redis. The databases are whole servers: anything else using them during a measurement counts too.
 */
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import pg from 'pg';
import { ProcSampler, type ProcTarget } from './proc-sampler';
import { table } from './report';
import type { Sample } from './stats';

const DATABASES = ['postgres', 'redis'] as const;

function parentOf(pid: number): number | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

const isLocal = (pid: number | undefined): pid is number => pid !== undefined && parentOf(pid) !== undefined;

/** The PostgreSQL postmaster (parent of a backend) and the Redis server, when they run on this machine. */
export async function databaseProcesses(postgresUrl: string, redisUrl: string): Promise<ProcTarget[]> {
  const targets: ProcTarget[] = [];
  const client = new pg.Client({ connectionString: postgresUrl });
  await client.connect();
  try {
    const backend = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    const postmaster = parentOf(backend);
    if (isLocal(postmaster)) targets.push({ name: 'postgres', pid: postmaster });
  } finally {
    await client.end();
  }
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    const pid = Number(/^process_id:(\d+)/m.exec(await redis.info('server'))?.[1]);
    if (isLocal(pid)) targets.push({ name: 'redis', pid });
  } finally {
    redis.disconnect();
  }
  return targets;
}

export class CpuPerRequest {
  private readonly sampler: ProcSampler | undefined;
  /** side → per measurement: µs of CPU per successful request, by process ('server', 'postgres', 'redis'). */
  private readonly perSide = new Map<string, Record<string, number>[]>();
  private seq = 0;

  /** `servers`: each side's own server process (side key → pid). */
  constructor(
    servers: Record<string, number | undefined>,
    private readonly databases: ProcTarget[],
  ) {
    const targets = [...Object.entries(servers).flatMap(([side, pid]) => (pid === undefined ? [] : [{ name: `server:${side}`, pid }])), ...databases];
    this.sampler = ProcSampler.available() ? new ProcSampler(targets, 500) : undefined;
    this.sampler?.start();
  }

  /** Measures `run` (one side's measurement) and records its CPU per request. */
  async around(side: string, run: () => Promise<Sample>): Promise<Sample> {
    if (!this.sampler) return run();
    const phase = `m${++this.seq}`;
    this.sampler.setPhase(phase);
    const sample = await run();
    this.sampler.setPhase('between');
    if (sample.ok > 0) {
      const perRequest: Record<string, number> = {};
      for (const name of [`server:${side}`, ...this.databases.map((d) => d.name)]) {
        const u = this.sampler.summary(name, phase);
        if (u) perRequest[name.startsWith('server:') ? 'server' : name] = (u.cpuSeconds * 1e6) / sample.ok;
      }
      const list = this.perSide.get(side) ?? [];
      list.push(perRequest);
      this.perSide.set(side, list);
    }
    return sample;
  }

  stop(): void {
    this.sampler?.stop();
  }

  /** Median over the measurements of each side, µs per request; undefined when nothing was sampled. */
  medians(): Map<string, Record<string, number>> | undefined {
    if (!this.sampler || this.perSide.size === 0) return undefined;
    const out = new Map<string, Record<string, number>>();
    for (const [side, list] of this.perSide) {
      const m: Record<string, number> = {};
      for (const key of ['server', ...this.databases.map((d) => d.name), 'total']) {
        const values = list.map((r) => (key === 'total' ? Object.values(r).reduce((a, b) => a + b, 0) : r[key])).filter((v): v is number => v !== undefined);
        if (values.length) m[key] = median(values);
      }
      out.set(side, m);
    }
    return out;
  }

  /** A markdown table: one row per side (in `sides` order, with their display names). */
  markdown(sides: { key: string; name: string }[]): string | undefined {
    const m = this.medians();
    if (!m) return undefined;
    const columns = ['server', ...DATABASES.filter((d) => this.databases.some((t) => t.name === d)), 'total'];
    const us = (v: number | undefined) => (v === undefined ? '–' : v.toFixed(0));
    return table(
      ['side', 'own process µs/req', ...columns.slice(1, -1).map((c) => `${c === 'postgres' ? 'PostgreSQL' : 'Redis'} µs/req`), 'sum µs/req'],
      sides.filter((s) => m.has(s.key)).map((s) => [s.name, ...columns.map((c) => us(m.get(s.key)![c]))]),
    );
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
