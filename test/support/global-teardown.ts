import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { Redis } from 'ioredis';
import { dropDatabase } from '../../platform/db';
import type { DevServer } from '../../platform/temporal-dev-server';
import { stopProcess } from './processes';

export default async function globalTeardown() {
  const run = (globalThis as Record<string, unknown>).__deskflow as { temporal: DevServer; worker: ChildProcess; databaseUrl: string } | undefined;
  if (!run) return;
  await stopProcess(run.worker);
  await run.temporal.stop();
  await dropDatabase(run.databaseUrl);
  if (process.env.OBJECT_STORAGE_DIR) rmSync(process.env.OBJECT_STORAGE_DIR, { recursive: true, force: true });
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  const prefix = process.env.REDIS_KEY_PREFIX!;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    if (keys.length) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
  await redis.quit();
}
