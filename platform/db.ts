import pg from 'pg';
import { type Config, ConfigSchema } from './config';
import type { Logger } from './logger';

/**
 * PostgreSQL's text form of a timestamptz (DateStyle ISO): `2026-12-03 17:44:01.123456+00` in a UTC session; in other
 * zones the offset may carry minutes and seconds (`+05:53:28`, local mean time before 1900), and years may be BC.
 */
const TIMESTAMPTZ = /^(\d{4,})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?([+-])(\d\d)(?::(\d\d))?(?::(\d\d))?( BC)?$/;

/**
 * A timestamptz as the ISO string the API and the workflows carry (milliseconds, truncated; `Z`). In a UTC session (the
 * usual case) by slicing the text: a Date per column was ~1 % of a GET's CPU (six timestamps a ticket row). Otherwise
 * computed from the fields: Date's own parse of this text reads years below 100 as 19xx and refuses an offset with
 * seconds (a RangeError on a historical date in a non-UTC session).
 */
export function timestamptzToIso(v: string): string {
  if (v === 'infinity' || v === '-infinity') return v;
  const f = TIMESTAMPTZ.exec(v);
  if (!f) return new Date(v).toISOString(); // not DateStyle ISO: as before
  const [, year, month, day, hour, minute, second, fraction = '', sign, offH, offM, offS, bc] = f;
  const millis = fraction.padEnd(3, '0').slice(0, 3);
  if (sign === '+' && offH === '00' && offM === undefined && offS === undefined && bc === undefined && year!.length === 4) {
    return `${year}-${month}-${day}T${hour}:${minute}:${second}.${millis}Z`;
  }
  const at = new Date(0);
  at.setUTCFullYear(bc ? 1 - Number(year) : Number(year), Number(month) - 1, Number(day)); // 1 BC is year 0
  at.setUTCHours(Number(hour), Number(minute), Number(second), Number(millis));
  const offset = (Number(offH) * 3600 + Number(offM ?? 0) * 60 + Number(offS ?? 0)) * 1000;
  return new Date(at.getTime() - (sign === '+' ? offset : -offset)).toISOString();
}

// Timestamps travel as ISO strings end to end; never let pg turn them into local Dates.
pg.types.setTypeParser(pg.types.builtins.TIMESTAMPTZ, timestamptzToIso);

/** The schema's defaults, where a caller (a test, a one-off tool) names only the URL and the size. */
const POOL_DEFAULTS = {
  DATABASE_POOL_MIN: ConfigSchema.shape.DATABASE_POOL_MIN.parse(undefined),
  DATABASE_POOL_IDLE_TIMEOUT: ConfigSchema.shape.DATABASE_POOL_IDLE_TIMEOUT.parse(undefined),
};

export function createPool(
  config: Pick<Config, 'DATABASE_URL' | 'DATABASE_POOL_MAX'> & Partial<Pick<Config, 'DATABASE_POOL_MIN' | 'DATABASE_POOL_IDLE_TIMEOUT'>>,
  log?: Pick<Logger, 'warn'>,
): pg.Pool {
  const { DATABASE_POOL_MIN, DATABASE_POOL_IDLE_TIMEOUT } = { ...POOL_DEFAULTS, ...config };
  const max = config.DATABASE_POOL_MAX;
  // Up to `min` connections stay open however idle: pg-pool otherwise closes each after the idle timeout, and the first
  // requests after a quiet spell paid for new connections (cold backends: ~10-20 ms, bench/RESULTS.md 2026-12-05).
  const pool = new pg.Pool({
    connectionString: config.DATABASE_URL,
    max,
    min: Math.min(DATABASE_POOL_MIN, max),
    idleTimeoutMillis: DATABASE_POOL_IDLE_TIMEOUT,
  });
  // A connection the server ended while it sat idle (a restart, a failover, pg_terminate_backend) is already out of the
  // pool, and the next checkout opens a new one. pg-pool reports it as an 'error' event, which unheard ends the process.
  // Logged without the error's `client` (its connection parameters may hold the password).
  pool.on('error', (err: Error & { code?: string }) => {
    log?.warn({ error: err.message, code: err.code }, 'PostgreSQL closed an idle pooled connection; the pool opens a new one when needed');
  });
  return pool;
}

/**
 * Opens the connections the pool keeps (DATABASE_POOL_MIN, at least one; one `SELECT 1` each), so the first requests
 * after a start do not wait for them; the pool then keeps them open however idle.
 */
export async function warmPool(pool: pg.Pool): Promise<void> {
  const keep = Math.max(1, pool.options.min ?? 0); // createPool already caps the minimum at the pool size
  const clients = await Promise.all(Array.from({ length: keep }, () => pool.connect()));
  try {
    await Promise.all(clients.map((c) => c.query('SELECT 1')));
  } finally {
    for (const c of clients) c.release();
  }
}

/** Creates the database named in `url` if it is missing (for the embedded default and tests). */
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
