import pg from 'pg';
import type { Config } from './config';

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
