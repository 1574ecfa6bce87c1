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
 *
 * A statement given a `name` (a hot read, e.g. `ticketStore.get`) is a prepared statement of each pooled
 * connection: parsed and planned once per connection instead of on every call. The tenant still travels with every
 * execution (the setting is not part of the plan; row-level security reads it when the statement runs).
 */
import pg from 'pg';
import { z } from 'zod';

export type Db = Pick<pg.PoolClient, 'query'>;

const TenantId = z.uuid();
// The very pattern z.uuid() checks with, tested directly on the hot path (zod's parse builds more than it needs to
// here); a failure still goes through TenantId.parse, for the same error as ever.
const TENANT_ID = z.regexes.uuid();
const checkTenantId = (tenantId: string) => {
  if (!TENANT_ID.test(tenantId)) TenantId.parse(tenantId);
};

const SET_TENANT = "SELECT set_config('app.tenant_id', $1, true)";

/** The parts of pg's wire connection a Query writes to (not in @types/pg). */
interface WireConnection {
  parse(config: { text: string; name?: string; types?: unknown[] }): void;
  /** Named statements sent but not yet acknowledged (pg moves them to parsedStatements on ParseComplete). */
  submittedNamedStatements: Record<string, string>;
  bind(config: { portal?: string; statement?: string; values?: unknown[] }): void;
  execute(config: { portal?: string; rows?: number }): void;
}

/**
 * A pg Query that first sets the tenant for its own implicit transaction. The setting statement's row and
 * completion are consumed here, so the caller's result is exactly what the statement alone would give.
 */
class TenantQuery extends pg.Query {
  private preludeDone = false;
  declare name?: string;
  declare text: string;
  declare types?: unknown[];
  declare queryMode?: string;

  constructor(
    private readonly tenantId: string,
    text: string,
    values: unknown[] | undefined,
    name: string | undefined,
  ) {
    // Text and values as such: a config object would be copied property by property on every query.
    super(text, values);
    // Always the extended protocol: the simple protocol would end the implicit transaction at each statement.
    this.queryMode = 'extended';
    this.name = name;
  }

  prepare(connection: WireConnection): void {
    // A named statement not yet on this connection is parsed first: pg records a name as parsed at the first
    // ParseComplete of its query, so that one must be the statement's own (a failed parse then records nothing).
    if (this.name && !(this as unknown as { hasBeenParsed(c: WireConnection): boolean }).hasBeenParsed(connection)) {
      connection.parse({ text: this.text, name: this.name, types: this.types ?? [] });
      connection.submittedNamedStatements[this.name] = this.text;
    }
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

/** What a tenant-scoped `query` accepts: text (and values), or `{ text, values, name }` for a prepared statement. */
const SUPPORTED = new Set(['text', 'values', 'name']);

/** The `db` handed to tenant-scoped code: every statement carries the tenant; nothing else reaches the connection. */
function scoped(client: pg.PoolClient, tenantId: string): Db {
  const query = (textOrConfig: string | pg.QueryConfig, values?: unknown[]) => {
    let text: string;
    let name: string | undefined;
    if (typeof textOrConfig === 'string') text = textOrConfig;
    else {
      if (typeof (textOrConfig as { submit?: unknown }).submit === 'function') {
        throw new TypeError('custom query objects are not supported on a tenant-scoped connection');
      }
      const other = Object.keys(textOrConfig).find((key) => !SUPPORTED.has(key));
      if (other) throw new TypeError(`query option ${other} is not supported on a tenant-scoped connection`);
      ({ text, name } = textOrConfig);
      values ??= textOrConfig.values;
    }
    const result = new Promise<pg.QueryResult>((resolve, reject) => {
      const q = new TenantQuery(tenantId, text, values, name) as TenantQuery & { callback: (err: Error | null, res: pg.QueryResult) => void };
      q.callback = (err, res) => (err ? reject(err) : resolve(res));
      client.query(q);
    });
    // Point a failure's stack at the application code that made the query, not at the socket read: captured in the
    // rejection handler, it carries the awaiting callers (V8 async stack traces) and costs nothing when all goes well.
    return result.catch((err: Error) => {
      Error.captureStackTrace(err);
      throw err;
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
  checkTenantId(tenantId);
  const client = await pool.connect();
  try {
    return await fn(scoped(client, tenantId));
  } finally {
    release(client, false);
  }
}

/** As withTenant, inside one transaction (the setting is local to it, so it ends with it). */
export async function inTenantTransaction<T>(pool: pg.Pool, tenantId: string, fn: (db: Db) => Promise<T>): Promise<T> {
  checkTenantId(tenantId);
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
