/** Applies the SQL migrations in platform/migrations with node-pg-migrate, as the owner role (DATABASE_ADMIN_URL). */
import path from 'node:path';
import { ensureDatabase } from './db';

export const MIGRATIONS_DIR = path.join(__dirname, 'migrations');

export async function migrate(databaseUrl: string, log: (msg: string) => void = () => undefined): Promise<void> {
  await ensureDatabase(databaseUrl);
  // node-pg-migrate is ESM-only; a dynamic import keeps our CommonJS build.
  const { runner } = await import('node-pg-migrate');
  await runner({
    databaseUrl,
    dir: MIGRATIONS_DIR,
    direction: 'up',
    migrationsTable: 'pgmigrations',
    checkOrder: true,
    log,
  });
}
