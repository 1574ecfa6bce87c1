/** What the numbers were measured on. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { Redis } from 'ioredis';
import pg from 'pg';
import { resolveTemporalCli, TEMPORAL_CLI_VERSION, temporalCliCacheDir } from '../../platform/temporal-cli';

export interface Machine {
  cpu: string;
  cores: number;
  ramGiB: number;
  os: string;
  node: string;
  postgres: string;
  redis: string;
  temporalCli: string;
  loadAverage: string;
  /** The code measured: git commit, and whether the tree had uncommitted changes. */
  code: string;
  date: string;
}

export const loadAverage = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' / ');

function cpuModel(): string {
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (match?.[1]) return match[1].trim();
  } catch {
    // not Linux: fall back to what Node knows
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

function temporalCliVersion(): string {
  try {
    const cli = resolveTemporalCli(() => undefined);
    const reported = execFileSync(cli, ['--version'], { encoding: 'utf8', timeout: 10_000 }).trim();
    const pinned = cli.startsWith(temporalCliCacheDir()) ? ` (go-installed ${TEMPORAL_CLI_VERSION})` : '';
    return `${reported}${pinned} — ${cli}`;
  } catch (err) {
    return `unknown (${(err as Error).message})`;
  }
}

function codeRevision(): string {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const commit = git('rev-parse', '--short', 'HEAD');
    return git('status', '--porcelain', '--', '.', ':(exclude)bench/RESULTS.md') ? `${commit} + uncommitted changes` : commit;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

export async function describeMachine(databaseUrl: string, redisUrl: string): Promise<Machine> {
  let postgres = 'unknown';
  const client = new pg.Client({ connectionString: databaseUrl });
  try {
    await client.connect();
    const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
    postgres = rows[0]?.server_version ?? postgres;
  } catch {
    // reported as unknown
  } finally {
    await client.end().catch(() => undefined);
  }
  let redis = 'unknown';
  const r = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  try {
    await r.connect();
    redis = /redis_version:(\S+)/.exec(await r.info('server'))?.[1] ?? redis;
  } catch {
    // reported as unknown
  } finally {
    r.disconnect();
  }
  return {
    cpu: cpuModel(),
    cores: os.availableParallelism?.() ?? os.cpus().length,
    ramGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    postgres,
    redis,
    temporalCli: temporalCliVersion(),
    loadAverage: loadAverage(),
    code: codeRevision(),
    date: new Date().toISOString(),
  };
}
