/**
 * Applies the SQL migrations in platform/migrations with node-pg-migrate, as the owner role (DATABASE_ADMIN_URL),
 * then the data steps SQL cannot do (re-keying blind indexes). Every step is idempotent: run it again at will.
 */
import path from 'node:path';
import type pg from 'pg';
import type { Config } from './config';
import { createPool, ensureDatabase } from './db';
import { BLIND_INDEX_VERSION, createFieldCrypto, type FieldCrypto } from './field-crypto';
import { ROOT } from './paths';

export const MIGRATIONS_DIR = path.join(ROOT, 'platform', 'migrations');

export type MigrateConfig = Pick<Config, 'DATABASE_ADMIN_URL' | 'FIELD_ENCRYPTION_KEYS' | 'BLIND_INDEX_KEY'>;

export async function migrate(config: MigrateConfig, log: (msg: string) => void = () => undefined): Promise<void> {
  const databaseUrl = config.DATABASE_ADMIN_URL;
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
  const pool = createPool({ DATABASE_URL: databaseUrl, DATABASE_POOL_MAX: 1, DATABASE_POOL_MIN: 0 });
  try {
    const n = await reindexBlindIndexes(pool, createFieldCrypto(config));
    if (n) log(`re-indexed ${n} customer email(s) with per-tenant blind-index keys`);
  } finally {
    await pool.end();
  }
}

/**
 * Recomputes the blind index of every customer still on an older index version (decrypting the email), in
 * batches. Run as the owner (row-level security does not apply to it). Returns how many rows it changed.
 */
export async function reindexBlindIndexes(pool: pg.Pool, crypto: FieldCrypto, batch = 500): Promise<number> {
  let done = 0;
  let after = '00000000-0000-0000-0000-000000000000';
  for (;;) {
    const { rows } = await pool.query<{ id: string; tenant_id: string; email_enc: string | null }>(
      'SELECT id, tenant_id, email_enc FROM customers WHERE email_bidx_version < $1 AND id > $2 ORDER BY id LIMIT $3',
      [BLIND_INDEX_VERSION, after, batch],
    );
    if (rows.length === 0) return done;
    const bidx = rows.map((r) => (r.email_enc === null ? null : crypto.blindIndex(r.tenant_id, crypto.decrypt(r.email_enc))));
    const { rowCount } = await pool
      .query(
        `UPDATE customers c SET email_bidx = u.bidx, email_bidx_version = $3
         FROM unnest($1::uuid[], $2::text[]) AS u(id, bidx) WHERE c.id = u.id AND c.email_bidx_version < $3`,
        [rows.map((r) => r.id), bidx, BLIND_INDEX_VERSION],
      )
      .catch((err: { code?: string; message?: string }) => {
        // Only possible if a newer and an older process both created a customer with one email during an upgrade.
        if (err.code === '23505') throw new Error(`two customers of one tenant share an email (${err.message}): merge them, then run the migration again`);
        throw err;
      });
    done += rowCount ?? 0;
    after = rows[rows.length - 1]!.id;
  }
}
