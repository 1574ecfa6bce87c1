/**
 * One run = one Temporal dev server (in memory), one fresh PostgreSQL database, one Redis key prefix
 * and one worker process. A missing service fails the run with a clear message; nothing is skipped.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { loadConfig } from '../../platform/config';
import { startTemporalDevServer } from '../../platform/temporal-dev-server';
import { freePort, runTs, startWorkerProcess } from './processes';

async function must<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new Error(`Test prerequisite missing: ${what}: ${(err as Error).message}`);
  }
}

export default async function globalSetup() {
  const base = loadConfig({ ...process.env, NODE_ENV: 'test' });
  const runId = `${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;

  const url = new URL(base.DATABASE_URL);
  url.pathname = `/deskflow_test_${runId}`;
  const adminUrl = new URL(base.DATABASE_ADMIN_URL);
  adminUrl.pathname = url.pathname;
  await must(`PostgreSQL at ${adminUrl.host}`, async () => {
    const client = new pg.Client({ connectionString: base.DATABASE_ADMIN_URL.replace(/\/[^/]*$/, '/postgres') });
    await client.connect();
    await client.end();
  });
  await must(`Redis at ${base.REDIS_URL}`, async () => {
    const redis = new Redis(base.REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
    await redis.connect();
    await redis.ping();
    redis.disconnect();
  });

  const temporal = await must('Temporal dev server', async () => startTemporalDevServer({ port: await freePort() }));

  Object.assign(process.env, {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: url.toString(),
    DATABASE_ADMIN_URL: adminUrl.toString(),
    // Suites share one loopback address and few credentials; the limit tests set their own limits.
    RATE_LIMIT_PER_MIN: '100000',
    LOGIN_ATTEMPTS_PER_IP: '100000',
    LOGIN_ATTEMPTS_PER_ACCOUNT: '100000',
    API_KEY_FAILURES_PER_IP: '100000',
    DATABASE_POOL_MAX: '5',
    REDIS_KEY_PREFIX: `deskflow-test:${runId}:`,
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_TASK_QUEUE: `tickets-${runId}`,
    TEMPORAL_WEBHOOK_TASK_QUEUE: `webhooks-${runId}`,
    TICKET_AUTO_CLOSE_AFTER: '2s',
    DEMO_SEED: 'false',
    WORKER_METRICS_ADDRESS: '', // several workers per run: no fixed metrics port
    // Tests' webhook receivers listen on loopback; the SSRF tests start their own stack with this off.
    WEBHOOK_ALLOW_LOOPBACK: 'true',
    // The run's object storage (attachments, archives): the worker and every in-process API share it, outside the checkout.
    OBJECT_STORAGE_DIR: mkdtempSync(path.join(os.tmpdir(), `deskflow-objects-${runId}-`)),
  });
  runTs('platform/cli/migrate.ts', process.env);
  const worker = await startWorkerProcess(process.env);

  (globalThis as Record<string, unknown>).__deskflow = { temporal, worker, databaseUrl: adminUrl.toString() };
}
