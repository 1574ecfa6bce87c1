/**
 * Every table's row count and an order-independent checksum of its rows (the sum of a 60-bit slice of each row's MD5):
 * taken in the backup's snapshot and again after a restore, they show the restored data is the data that was dumped.
 * One streaming pass per table, no sort and no memory that grows with the table.
 */
import pg from 'pg';

export interface TableSummary {
  rows: number;
  checksum: string;
}

/** The settings a row's text form depends on, fixed so the source and the restored database render rows alike. */
export const STABLE_TEXT_SETTINGS = "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET extra_float_digits = 3";

export async function tableNames(db: pg.ClientBase): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>('SELECT tablename AS name FROM pg_tables WHERE schemaname = \'public\' ORDER BY tablename COLLATE "C"');
  return rows.map((r) => r.name);
}

/** Run as the owner (row-level security does not hide rows from it), inside the snapshot to be summarised. */
export async function summarizeTables(db: pg.ClientBase): Promise<Record<string, TableSummary>> {
  await db.query(STABLE_TEXT_SETTINGS);
  const out: Record<string, TableSummary> = {};
  for (const name of await tableNames(db)) {
    const { rows } = await db.query<{ rows: string; checksum: string }>(
      `SELECT count(*)::text AS rows, coalesce(sum(('x' || left(md5(t::text), 15))::bit(60)::bigint), 0)::text AS checksum
       FROM ${pg.escapeIdentifier(name)} t`,
    );
    out[name] = { rows: Number(rows[0]!.rows), checksum: rows[0]!.checksum };
  }
  return out;
}

/** What differs between two summaries, one line per table (empty: identical). */
export function compareSummaries(expected: Record<string, TableSummary>, actual: Record<string, TableSummary>): string[] {
  const problems: string[] = [];
  for (const [name, want] of Object.entries(expected)) {
    const got = actual[name];
    if (!got) problems.push(`table ${name}: missing`);
    else if (got.rows !== want.rows) problems.push(`table ${name}: ${got.rows} rows, the backup has ${want.rows}`);
    else if (got.checksum !== want.checksum) problems.push(`table ${name}: rows differ from the backup (checksum)`);
  }
  for (const name of Object.keys(actual)) if (!(name in expected)) problems.push(`table ${name}: not in the backup`);
  return problems;
}
