/**
 * Timestamps leave PostgreSQL as the ISO strings the API and the workflows carry (`…T…​.mmmZ`): read through the
 * application's pool (platform/db.ts's parser) in a UTC session and in another time zone, against PostgreSQL's own
 * rendering of the same instant, for random instants over the whole AD range and the edges, BC and far-future years.
 */
import type pg from 'pg';
import { createPool, timestamptzToIso } from '../../platform/db';

let pool: pg.Pool;
beforeAll(() => {
  pool = createPool({ DATABASE_URL: process.env.DATABASE_URL!, DATABASE_POOL_MAX: 2 });
});
afterAll(() => pool.end());

/** Random instants (seeded, so a failure repeats): years 1–9999, any second, 0–6 fractional digits. */
function instants(n: number): string[] {
  let seed = 42;
  const next = (max: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % max;
  };
  const pad = (v: number, w: number) => String(v).padStart(w, '0');
  const out = [
    '2026-12-03 17:44:01+00',
    '2026-12-03 17:44:01.1+00',
    '2026-12-03 17:44:01.123999+00',
    '0001-01-01 00:00:00+00',
    '0099-12-31 23:59:59.999999+00',
    '9999-12-31 23:59:59.999999+00',
    '2024-02-29 12:00:00.5+00',
  ];
  for (let i = 0; i < n; i++) {
    const digits = next(7);
    const fraction = digits === 0 ? '' : `.${pad(next(10 ** digits), digits)}`;
    out.push(
      `${pad(1 + next(9999), 4)}-${pad(1 + next(12), 2)}-${pad(1 + next(28), 2)} ${pad(next(24), 2)}:${pad(next(60), 2)}:${pad(next(60), 2)}${fraction}+00`,
    );
  }
  return out;
}

async function readBack(timeZone: string, values: string[]) {
  const client = await pool.connect();
  try {
    await client.query(`SET TimeZone = '${timeZone}'`);
    const { rows } = await client.query<{ parsed: string; expected: string }>(
      `SELECT t AS parsed, to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS expected
       FROM unnest($1::timestamptz[]) AS t`,
      [values],
    );
    return rows;
  } finally {
    await client.query('RESET TimeZone');
    client.release();
  }
}

it('reads every instant as PostgreSQL renders it in UTC, to the millisecond (truncated)', async () => {
  const rows = await readBack('UTC', instants(2000));
  expect(rows.filter((r) => r.parsed !== r.expected)).toEqual([]);
  expect(rows).toHaveLength(2007);
});

it.each(['Asia/Kolkata', 'America/St_Johns', 'Pacific/Chatham'])('in a session of another time zone (%s) too, local mean time included', async (zone) => {
  const rows = await readBack(zone, instants(1000));
  expect(rows.filter((r) => r.parsed !== r.expected)).toEqual([]);
  expect(rows).toHaveLength(1007);
});

it('BC years and years past 9999 read as the instant they are', async () => {
  const client = await pool.connect();
  try {
    const { rows } = await client.query<{ bc: string; far: string; bcMillis: string; farMillis: string }>(
      `SELECT '0044-03-15 12:00:00+00 BC'::timestamptz AS bc, '12345-06-07 08:09:10.5+00'::timestamptz AS far,
              (extract(epoch FROM '0044-03-15 12:00:00+00 BC'::timestamptz) * 1000)::bigint::text AS "bcMillis",
              (extract(epoch FROM '12345-06-07 08:09:10.5+00'::timestamptz) * 1000)::bigint::text AS "farMillis"`,
    );
    expect(Date.parse(rows[0]!.bc)).toBe(Number(rows[0]!.bcMillis));
    expect(Date.parse(rows[0]!.far)).toBe(Number(rows[0]!.farMillis));
  } finally {
    client.release();
  }
});

it('keeps infinity, and gives what Date gave wherever Date read the text right', () => {
  expect(timestamptzToIso('infinity')).toBe('infinity');
  expect(timestamptzToIso('-infinity')).toBe('-infinity');
  for (const v of instants(2000).filter((s) => Number(s.slice(0, 4)) >= 100)) expect(timestamptzToIso(v)).toBe(new Date(v).toISOString());
  // Date's lenient parse reads a year below 100 as 19xx; the text is what PostgreSQL meant.
  expect(timestamptzToIso('0099-01-01 00:00:00+00')).toBe('0099-01-01T00:00:00.000Z');
  expect(timestamptzToIso('2026-12-03 23:14:01.5+05:30')).toBe('2026-12-03T17:44:01.500Z');
  expect(timestamptzToIso('1850-01-01 00:00:00+05:53:28')).toBe('1849-12-31T18:06:32.000Z');
});
