/**
 * The scratch stack a full-stack benchmark runs on: its names (database, Redis key prefix), the Temporal dev server,
 * the database migrated as the owner, and the environment the real worker and API are started with (production
 * mode, quiet logs, limits raised so that the load is not refused). Everything is removed by `cleanup`.
 */
import { randomBytes } from 'node:crypto';
import { type Config, loadConfig } from '../../platform/config';
import { dropDatabase } from '../../platform/db';
import { startTemporalDevServer } from '../../platform/temporal-dev-server';
import { freePort, runTs } from '../../test/support/processes';
import { type Cleanup, deleteRedisKeys, must, withDatabase } from './harness';

const RAISED_LIMIT = '100000000';

export interface Scratch {
  base: Config;
  runId: string;
  databaseName: string;
  appDatabaseUrl: string;
  adminDatabaseUrl: string;
  /** The server's `postgres` database, as the admin. */
  serverUrl: string;
  redisPrefix: string;
}

/** Names for one run of bench `kind` (e.g. `wh`: database deskflow_bench_wh_<run>, Redis prefix deskflow-bench-wh:<run>:). */
export function scratchNames(kind: string): Scratch {
  const base = loadConfig(process.env);
  const runId = `${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const databaseName = `deskflow_bench_${kind}_${runId}`;
  return {
    base,
    runId,
    databaseName,
    appDatabaseUrl: withDatabase(base.DATABASE_URL, databaseName),
    adminDatabaseUrl: withDatabase(base.DATABASE_ADMIN_URL, databaseName),
    serverUrl: withDatabase(base.DATABASE_ADMIN_URL, 'postgres'),
    redisPrefix: `deskflow-bench-${kind}:${runId}:`,
  };
}

/**
 * Starts the Temporal dev server (in memory), registers the removal of the database and the Redis keys, builds the
 * services' environment (`extra` last) and migrates the database as the owner. Access tokens outlive the run.
 */
export async function startScratch(sc: Scratch, cleanup: Cleanup, log: (msg: string) => void, runSeconds: number, extra: NodeJS.ProcessEnv) {
  log('starting the Temporal dev server (in memory, headless)…');
  const temporal = await must('Temporal dev server', async () => startTemporalDevServer({ port: await freePort() }));
  cleanup.add('Temporal dev server', () => temporal.stop());
  cleanup.add(`database ${sc.databaseName}`, () => dropDatabase(sc.adminDatabaseUrl));
  cleanup.add(`Redis keys ${sc.redisPrefix}*`, () => deleteRedisKeys(sc.base.REDIS_URL, sc.redisPrefix));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    HOST: '127.0.0.1',
    DATABASE_URL: sc.appDatabaseUrl,
    DATABASE_ADMIN_URL: sc.adminDatabaseUrl,
    DATABASE_POOL_MAX: process.env.DATABASE_POOL_MAX ?? '20',
    REDIS_URL: sc.base.REDIS_URL,
    REDIS_KEY_PREFIX: sc.redisPrefix,
    TEMPORAL_ADDRESS: temporal.address,
    WORKER_METRICS_ADDRESS: '',
    FIELD_ENCRYPTION_KEYS: `bench:${randomBytes(32).toString('base64')}`,
    BLIND_INDEX_KEY: randomBytes(32).toString('base64'),
    ACCESS_TOKEN_TTL: `${Math.max(3600, runSeconds + 600)}s`,
    RATE_LIMIT_PER_MIN: RAISED_LIMIT,
    LOGIN_ATTEMPTS_PER_IP: RAISED_LIMIT,
    LOGIN_ATTEMPTS_PER_ACCOUNT: RAISED_LIMIT,
    DEMO_SEED: 'false',
    ...extra,
  };
  log(`migrating ${sc.databaseName} (as the owner)…`);
  runTs('platform/cli/migrate.ts', env);
  return { temporal, env, runConfig: loadConfig(env) };
}
