/**
 * Tenant-scoped database access. Every checkout makes sure `app.tenant_id` names the caller's tenant,
 * which the row-level security policies read: a query that forgot its own `WHERE tenant_id = …` still
 * sees one tenant only.
 */
import type pg from 'pg';
import { z } from 'zod';

export type Db = Pick<pg.PoolClient, 'query'>;

const TenantId = z.uuid();

/** The tenant each pooled connection's session is set to, so a checkout skips the round trip when it matches. */
const sessionTenant = new WeakMap<object, string>();

export async function withTenant<T>(pool: pg.Pool, tenantId: string, fn: (db: Db) => Promise<T>): Promise<T> {
  TenantId.parse(tenantId);
  const client = await pool.connect();
  try {
    if (sessionTenant.get(client) !== tenantId) {
      sessionTenant.delete(client);
      await client.query("SELECT set_config('app.tenant_id', $1, false)", [tenantId]);
      sessionTenant.set(client, tenantId);
    }
    return await fn(client);
  } finally {
    // The setting stays on the connection (re-checked on every checkout): every tenant-table query goes
    // through withTenant/inTenantTransaction, and each also filters by tenant itself (the first wall).
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
