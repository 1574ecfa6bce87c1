/**
 * Objects whose rows are gone (an erasure) and whose bytes must go too: listed in pending_object_deletions in the
 * transaction that removed the rows, deleted from the store once it committed, then forgotten. Whatever a crash left
 * is picked up by the data retention schedule. Only through narrow SECURITY DEFINER functions: the application role
 * has no privilege on the table.
 */
import type pg from 'pg';
import type { ObjectStorage } from '../platform/object-storage';

export function objectDeletionStore(pool: pg.Pool, storage: ObjectStorage) {
  const store = {
    /** Deletes the objects, then forgets their keys; returns how many were deleted (a failed one stays pending). */
    async deleteNow(keys: string[]): Promise<number> {
      const done: string[] = [];
      for (const key of keys) {
        try {
          await storage.delete(key); // a missing object is no error: deleted before, by a sweep or a retry
          done.push(key);
        } catch {
          // left pending for the sweep
        }
      }
      if (done.length) await pool.query('SELECT forget_object_deletions($1::text[])', [done]);
      return done.length;
    },

    /** One batch of keys pending since before `before`: deleted and forgotten. Returns how many were due. */
    async sweep(before: Date, limit: number): Promise<{ due: number; deleted: number }> {
      const { rows } = await pool.query<{ key: string }>('SELECT due_object_deletions($1, $2) AS key', [before.toISOString(), limit]);
      const keys = rows.map((r) => r.key);
      return { due: keys.length, deleted: keys.length ? await store.deleteNow(keys) : 0 };
    },
  };
  return store;
}
