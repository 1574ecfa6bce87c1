/**
 * Deletion of archived tickets past their tenant's `archive_delete_after_years` (PostgreSQL side). Only through the
 * narrow SECURITY DEFINER functions of migration 022: the look-up across tenants names rows only, and the deletion
 * checks everything again under the archive row's lock, records the objects in pending_object_deletions, removes the
 * metadata row and writes the audit entry, all in one transaction of the ticket's tenant.
 */
import type pg from 'pg';
import { inTenantTransaction } from '../platform/tenant-db';

export interface ArchiveDeletionCandidate {
  tenant_id: string;
  ticket_id: string;
  /** ISO 8601 to the microsecond (a cursor names the exact row). */
  closed_at: string;
  /** The archive generation its objects were listed for (a restore and re-archive makes another). */
  generation: number;
  /** The document's key: its folder holds the ticket's archived files. */
  location: string;
}

export type ArchiveDeletionOutcome = 'deleted' | 'gone' | 'restored' | 'changed' | 'kept' | 'not_due' | 'legal_hold';

export function archiveDeletionStore(pool: pg.Pool) {
  return {
    /** Due archives of every tenant after the cursor, oldest closed first. */
    async candidates(after: { closed_at: string; ticket_id: string } | null, limit: number): Promise<ArchiveDeletionCandidate[]> {
      const { rows } = await pool.query<ArchiveDeletionCandidate>(
        `SELECT tenant_id, ticket_id, to_char(closed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS closed_at, generation, location
         FROM archive_deletion_candidates($1, $2, $3)`,
        [after?.closed_at ?? null, after?.ticket_id ?? null, limit],
      );
      return rows;
    },

    /**
     * Deletes the archive (row, lifted hold, objects listed for deletion) if it is still due, and says how it went.
     * `keys`: the objects found under its folder; the function keeps those that are the ticket's. `storage_keys`: what
     * the caller deletes after this commit (the sweep deletes any it could not).
     */
    async deleteArchive(
      c: Pick<ArchiveDeletionCandidate, 'tenant_id' | 'ticket_id' | 'generation'>,
      keys: string[],
    ): Promise<{ outcome: ArchiveDeletionOutcome; storage_keys: string[] }> {
      return inTenantTransaction(pool, c.tenant_id, async (db) => {
        const { rows } = await db.query<{ result: { outcome: ArchiveDeletionOutcome; storage_keys: string[] } }>(
          'SELECT archive_delete_ticket($1, $2, $3::text[]) AS result',
          [c.ticket_id, c.generation, keys],
        );
        return rows[0]!.result;
      });
    },
  };
}
export type ArchiveDeletionStore = ReturnType<typeof archiveDeletionStore>;
