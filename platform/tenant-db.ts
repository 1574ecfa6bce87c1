/**
 * Tenant-scoped database access. Every query made through `withTenant`/`inTenantTransaction` runs with
 * `app.tenant_id` naming the caller's tenant, which the row-level security policies read: a query that
 * forgot its own `WHERE tenant_id = …` still sees one tenant only.
 *
 * The setting never outlives the query (or the transaction) that needed it, so a pooled connection
 * cannot carry one tenant's setting into the next checkout: each statement is sent together with
 * `set_config('app.tenant_id', $1, true)` in one pipelined message sequence closed by a single Sync.
 * PostgreSQL runs the messages before a Sync as one implicit transaction, so the transaction-local
 * setting applies to the statement and is gone when it commits. One round trip per statement, as before.
 */
import pg from 'pg';
import { z } from 'zod';

export type Db = Pick<pg.PoolClient, 'query'>;

const TenantId = z.uuid();

const SET_TENANT = "SELECT set_config('app.tenant_id', $1, true)";

/** The parts of pg's wire connection a Query writes to (not in @types/pg). */
interface WireConnection {
  parse(config: { text: string; name?: string; types?: unknown[] }): void;
  bind(config: { portal?: string; statement?: string; values?: unknown[] }): void;
  execute(config: { portal?: string; rows?: number }): void;
}

/**
 * A pg Query that first sets the tenant for its own implicit transaction. The setting statement's row and
 * completion are consumed here, so the caller's result is exactly what the statement alone would give.
 */
class TenantQuery extends pg.Query {
  private preludeDone = false;

  constructor(
    private readonly tenantId: string,
    config: pg.QueryConfig,
  ) {
    // Always the extended protocol: the simple protocol would end the implicit transaction at each statement.
    super({ ...config, queryMode: 'extended' } as pg.QueryConfig);
  }

  prepare(connection: WireConnection): void {
    connection.parse({ text: SET_TENANT, name: '', types: [] });
    connection.bind({ portal: '', statement: '', values: [this.tenantId] });
    connection.execute({ portal: '', rows: 0 });
    (pg.Query.prototype as unknown as { prepare(c: WireConnection): void }).prepare.call(this, connection);
  }

  handleDataRow(msg: unknown): void {
    if (this.preludeDone) (pg.Query.prototype as unknown as { handleDataRow(m: unknown): void }).handleDataRow.call(this, msg);
  }

  handleCommandComplete(msg: unknown, connection: unknown): void {
    if (!this.preludeDone) {
      this.preludeDone = true;
      return;
    }
    (pg.Query.prototype as unknown as { handleCommandComplete(m: unknown, c: unknown): void }).handleCommandComplete.call(this, msg, connection);
  }
}

/** The `db` handed to tenant-scoped code: every statement carries the tenant; nothing else reaches the connection. */
function scoped(client: pg.PoolClient, tenantId: string): Db {
  const query = (textOrConfig: string | pg.QueryConfig, values?: unknown[]) => {
    if (typeof textOrConfig !== 'string' && typeof (textOrConfig as { submit?: unknown }).submit === 'function') {
      throw new TypeError('custom query objects are not supported on a tenant-scoped connection');
    }
    const config: pg.QueryConfig =
      typeof textOrConfig === 'string' ? { text: textOrConfig, values } : { ...textOrConfig, values: values ?? textOrConfig.values };
    const caller = new Error();
    return new Promise<pg.QueryResult>((resolve, reject) => {
      const q = new TenantQuery(tenantId, config) as TenantQuery & { callback: (err: Error | null, res: pg.QueryResult) => void };
      q.callback = (err, res) => {
        if (!err) return resolve(res);
        // Point the stack at the application code that made the query, not at the socket read.
        err.stack = `${err.name}: ${err.message}\n${caller.stack?.split('\n').slice(1).join('\n') ?? ''}`;
        reject(err);
      };
      client.query(q);
    });
  };
  return { query } as unknown as Db;
}

/** Anything but an idle session (e.g. a transaction the callback opened and never ended) must not go back to the pool. */
function release(client: pg.PoolClient, failed: boolean): void {
  const status = (client as unknown as { getTransactionStatus?: () => string | null }).getTransactionStatus?.();
  client.release(failed || (status !== undefined && status !== 'I') ? true : undefined);
}

export async function withTenant<T>(pool: pg.Pool, tenantId: string, fn: (db: Db) => Promise<T>): Promise<T> {
  TenantId.parse(tenantId);
  const client = await pool.connect();
  try {
    return await fn(scoped(client, tenantId));
  } finally {
    release(client, false);
  }
}

/** As withTenant, inside one transaction (the setting is local to it, so it ends with it). */
export async function inTenantTransaction<T>(pool: pg.Pool, tenantId: string, fn: (db: Db) => Promise<T>): Promise<T> {
  TenantId.parse(tenantId);
  const client = await pool.connect();
  let failed = false;
  try {
    await client.query('BEGIN');
    const result = await fn(scoped(client, tenantId));
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {
      failed = true; // a connection that cannot roll back is discarded, not reused
    });
    throw err;
  } finally {
    release(client, failed);
  }
}
