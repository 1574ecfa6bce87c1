/**
 * A stack of its own: a fresh database (migrated), Redis prefix and task queues, one worker process and one API
 * process. For suites whose assertions would be disturbed by other suites' workers (which share the run's database:
 * any worker's webhook dispatcher delivers any tenant's deliveries), or that flip switches for every tenant.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dropDatabase } from '../../platform/db';
import { type ApiProcess, startApiProcess } from './api-process';
import { ownDatabaseEnv } from './own-database';
import { runTs, startWorkerProcess, stopProcess } from './processes';
import { startStack, type TestStack } from './stack';

export interface IsolatedStack {
  /** Everything the processes were started with. */
  env: Record<string, string>;
  api: ApiProcess;
  worker: ChildProcess;
  /** An in-process API on the same database, for setting up tenants and inspecting rows (`admin` pool). */
  stack: TestStack;
  close(): Promise<void>;
}

export async function startIsolatedStack(name: string, overrides: Record<string, string> = {}): Promise<IsolatedStack> {
  const id = `${name}_${randomBytes(4).toString('hex')}`;
  const database = ownDatabaseEnv(id);
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    ...database,
    REDIS_KEY_PREFIX: `${process.env.REDIS_KEY_PREFIX}${id}:`,
    TEMPORAL_TASK_QUEUE: `tickets-${id}`,
    TEMPORAL_WEBHOOK_TASK_QUEUE: `webhooks-${id}`,
    ...overrides,
  };
  const started: { worker?: ChildProcess; api?: ApiProcess; stack?: TestStack } = {};
  const close = async () => {
    await Promise.allSettled([started.api?.stop(), started.worker && stopProcess(started.worker), started.stack?.close()]);
    await dropDatabase(database.DATABASE_ADMIN_URL);
  };
  try {
    runTs('platform/cli/migrate.ts', env);
    started.worker = await startWorkerProcess(env);
    started.api = await startApiProcess(env);
    started.stack = await startStack(env);
  } catch (err) {
    await close();
    throw err;
  }
  return { env, api: started.api, worker: started.worker, stack: started.stack, close };
}
