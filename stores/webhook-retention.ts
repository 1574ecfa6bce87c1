/** Retention of the webhook delivery log, across tenants: only through the narrow SECURITY DEFINER purge (the app role has no DELETE). */
import type pg from 'pg';

export const webhookRetentionStore = (pool: pg.Pool) => ({
  /** Deletes up to `limit` attempts made before `before`, oldest first; returns how many went. */
  async purgeAttempts(before: string, limit: number): Promise<number> {
    const { rows } = await pool.query<{ n: number }>('SELECT purge_webhook_attempts($1, $2) AS n', [before, limit]);
    return rows[0]!.n;
  },
});
