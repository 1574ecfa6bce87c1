import pg from 'pg';
import type { Config } from './config';

// Timestamps travel as ISO strings end to end; never let pg turn them into local Dates.
pg.types.setTypeParser(pg.types.builtins.TIMESTAMPTZ, (v) => (v === 'infinity' || v === '-infinity' ? v : new Date(v).toISOString()));

export function createPool(config: Pick<Config, 'DATABASE_URL' | 'DATABASE_POOL_MAX'>): pg.Pool {
  return new pg.Pool({ connectionString: config.DATABASE_URL, max: config.DATABASE_POOL_MAX });
}

/** Creates the database named in `url` if it is missing (for the embedded default and tests). */
/** Connections a warm-up opens at once: what a burst of first requests needs (pg closes idle ones after 10 s). */
const WARM_CONNECTIONS = 4;

/** Opens a few of the pool's connections (one `SELECT 1` each), so the first requests after a start do not wait for them. */
export async function warmPool(pool: pg.Pool): Promise<void> {
  const clients = await Promise.all(Array.from({ length: Math.min(WARM_CONNECTIONS, pool.options.max ?? 10) }, () => pool.connect()));
  try {
    await Promise.all(clients.map((c) => c.query('SELECT 1')));
  } finally {
    for (const c of clients) c.release();
  }
}

export async function ensureDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) {
      // Two processes may race here; the loser's duplicate_database error means "it exists now".
      await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`).catch((err: { code?: string }) => {
        if (err.code !== '42P04') throw err;
      });
    }
  } finally {
    await client.end();
  }
}

export async function dropDatabase(url: string): Promise<void> {
  const name = decodeURIComponent(new URL(url).pathname.slice(1));
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
  } finally {
    await client.end();
  }
}
