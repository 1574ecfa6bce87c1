/** Opaque keyset cursors: base64url JSON of the last row's sort key. Tampered cursors are a 400. */
import { z } from 'zod';
import { DeskflowError } from '../domain/errors';

export function encodeCursor(key: unknown[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

export function decodeCursor<S extends z.ZodType>(cursor: string | undefined, schema: S): z.infer<S> | undefined {
  if (cursor === undefined) return undefined;
  try {
    const parsed = schema.safeParse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
    if (parsed.success) return parsed.data;
  } catch {
    // fall through
  }
  throw new DeskflowError('invalid_cursor', 'the cursor is not one this API returned');
}

/** Rows fetched with LIMIT n+1 → one page and whether there is more. */
export function pageOf<T>(rows: T[], limit: number, keyOf: (row: T) => unknown[]) {
  const has_more = rows.length > limit;
  const data = has_more ? rows.slice(0, limit) : rows;
  const last = data[data.length - 1];
  return { data, has_more, next_cursor: has_more && last !== undefined ? encodeCursor(keyOf(last)) : null };
}

export const TimeIdKey = z.tuple([z.iso.datetime(), z.uuid()]);
export const VersionKey = z.tuple([z.number().int().positive()]);
