/**
 * Tenant-scoped database access. Every checkout sets `app.tenant_id`, which the row-level security
 * policies read: a query that forgot its own `WHERE tenant_id = …` still sees one tenant only.
 */
import type pg from 'pg';
import { z } from 'zod';

export type Db = Pick<pg.PoolClient, 'query'>;

const TenantId = z.uuid();

export async function withTenant<T>(pool: pg.Pool, tenantId: string, fn: (db: Db) => Promise<T>): Promise<T> {
  TenantId.parse(tenantId);
  const client = await pool.connect();
  try {
    await client.query("SELECT set_config('app.tenant_id', $1, false)", [tenantId]);
    return await fn(client);
  } finally {
    // Clear the tenant before the connection goes back (queued ahead of the next borrower's queries,
    // so not awaited): a query that forgot withTenant sees no tenant's rows, not the last caller's.
    client.query("SELECT set_config('app.tenant_id', '', false)").catch(() => undefined);
    client.release();
  }
}

/** As withTenant, inside one transaction (the setting is then local to it). */
export async function inTenantTransaction<T>(pool: pg.Pool, tenantId: string, fn: (db: Db) => Promise<T>): Promise<T> {
  TenantId.parse(tenantId);
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query("SELECT set_config('app.tenant_id', $1, true)", [tenantId]);
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
