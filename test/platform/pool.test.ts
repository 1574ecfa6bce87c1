/**
 * The application's PostgreSQL pool (platform/db.ts): it keeps DATABASE_POOL_MIN connections warm however idle, closes
 * the ones above it after DATABASE_POOL_IDLE_TIMEOUT, and outlives a connection the server ends while it sits idle
 * (a restart, a failover, pg_terminate_backend), which pg-pool reports as an 'error' event that would otherwise end the
 * process.
 */
import pg from 'pg';
import { loadConfig } from '../../platform/config';
import { createPool, warmPool } from '../../platform/db';

const url = () => {
  const value = process.env.DATABASE_URL;
  if (!value) throw new Error('DATABASE_URL is not set: the tests need the PostgreSQL of test/support/global-setup.ts');
  return value;
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function backendPid(client: pg.PoolClient): Promise<number> {
  const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  return rows[0]!.pid;
}

/** Opens `n` connections at once (so each is its own), returns their backend pids, then releases them all. */
async function openAndRelease(pool: pg.Pool, n: number): Promise<number[]> {
  const clients = await Promise.all(Array.from({ length: n }, () => pool.connect()));
  try {
    return await Promise.all(clients.map(backendPid));
  } finally {
    for (const c of clients) c.release();
  }
}

it('the defaults keep 4 connections warm and close the others after 10 s idle', () => {
  const config = loadConfig({});
  expect(config.DATABASE_POOL_MIN).toBe(4);
  expect(config.DATABASE_POOL_IDLE_TIMEOUT).toBe(10_000);
  expect(loadConfig({ DATABASE_POOL_IDLE_TIMEOUT: '1m' }).DATABASE_POOL_IDLE_TIMEOUT).toBe(60_000);
  expect(() => loadConfig({ DATABASE_POOL_MIN: '-1' })).toThrow(/DATABASE_POOL_MIN/);
});

it('keeps DATABASE_POOL_MIN connections (the same backends) past the idle timeout and closes the rest', async () => {
  const pool = createPool({ DATABASE_URL: url(), DATABASE_POOL_MAX: 4, DATABASE_POOL_MIN: 2, DATABASE_POOL_IDLE_TIMEOUT: 100 });
  try {
    const opened = await openAndRelease(pool, 4);
    expect(new Set(opened).size).toBe(4);
    expect(pool.totalCount).toBe(4);
    await sleep(600); // six idle timeouts
    expect(pool.totalCount).toBe(2);
    expect(pool.idleCount).toBe(2);
    // What a request finds after the quiet spell: backends opened before it, not new ones.
    const kept = await openAndRelease(pool, 2);
    for (const pid of kept) expect(opened).toContain(pid);
  } finally {
    await pool.end();
  }
});

it('is capped at DATABASE_POOL_MAX, and warmPool opens the connections it keeps', async () => {
  const pool = createPool({ DATABASE_URL: url(), DATABASE_POOL_MAX: 3, DATABASE_POOL_MIN: 5, DATABASE_POOL_IDLE_TIMEOUT: 100 });
  try {
    expect(pool.options.min).toBe(3);
    await warmPool(pool);
    expect(pool.totalCount).toBe(3);
    await sleep(400);
    expect(pool.totalCount).toBe(3);
  } finally {
    await pool.end();
  }
});

it('outlives a connection PostgreSQL ends while it sits idle, logs it without the connection details, and opens a new one', async () => {
  const warnings: { fields: Record<string, unknown>; message: string }[] = [];
  const log = { warn: (fields: Record<string, unknown>, message: string) => void warnings.push({ fields, message }) };
  const pool = createPool({ DATABASE_URL: url(), DATABASE_POOL_MAX: 2 }, log as never);
  const admin = new pg.Client({ connectionString: url() });
  await admin.connect();
  try {
    const [pid] = await openAndRelease(pool, 1);
    expect(pool.idleCount).toBe(1);
    // The same role may end its own backends. Without the pool's 'error' listener the event throws out of pg's socket
    // handler: an uncaught exception that fails this test (and ended the API or the worker).
    const { rows } = await admin.query<{ ended: boolean }>('SELECT pg_terminate_backend($1) AS ended', [pid]);
    expect(rows[0]!.ended).toBe(true);
    for (let i = 0; i < 100 && warnings.length === 0; i++) await sleep(20);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.fields).toEqual({ error: expect.stringMatching(/terminating connection/), code: '57P01' });
    expect(JSON.stringify(warnings)).not.toMatch(/connectionParameters|password|postgres:\/\//);
    expect(pool.totalCount).toBe(0); // already out of the pool
    const { rows: after } = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    expect(after[0]!.pid).not.toBe(pid);
  } finally {
    await admin.end();
    await pool.end();
  }
});
