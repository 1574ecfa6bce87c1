/**
 * Deletion of archived tickets past their tenant's `archive_delete_after_years` (a step of the data retention
 * workflow). Per ticket: list what its archive folder holds, then one transaction (migration 022's
 * archive_delete_ticket) checks it again under the archive row's lock (still archived, the same generation, still due,
 * no legal hold), records every object in pending_object_deletions and removes the metadata row with an audit entry;
 * after the commit the objects are deleted. A crash after the commit leaves keys pending, which the same workflow's
 * sweep deletes; a crash before it changes nothing. Objects are never deleted while a row points at them.
 */
import { activityInfo, heartbeat } from '@temporalio/activity';
import type pg from 'pg';
import { classifyDbError } from '../platform/db-errors';
import type { Logger } from '../platform/logger';
import type { ObjectStorage } from '../platform/object-storage';
import { type ArchiveDeletionCandidate, type ArchiveDeletionOutcome, archiveDeletionStore } from '../stores/archive-deletions';
import { objectDeletionStore } from '../stores/object-deletions';
import type { ArchiveDeletionCursor, ArchiveDeletionStep } from '../workflows/data-retention-contract';

export interface ArchiveDeletionDeps {
  pool: pg.Pool;
  storage: ObjectStorage;
  log?: Logger;
}

/** Every key under a folder (all pages). */
async function keysUnder(storage: ObjectStorage, folder: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await storage.list(folder, cursor ? { cursor } : {});
    keys.push(...page.objects.map((o) => o.key));
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return keys;
}

/** Deletes one due archive, as the activity does; apart from it so tests and tools can name a ticket. */
export function archiveDeleter(deps: ArchiveDeletionDeps) {
  const archives = archiveDeletionStore(deps.pool);
  const objects = objectDeletionStore(deps.pool, deps.storage);

  async function deleteOne(c: Pick<ArchiveDeletionCandidate, 'tenant_id' | 'ticket_id' | 'generation' | 'location'>): Promise<ArchiveDeletionOutcome> {
    // `archive/<tenant>/<yyyy>/<mm>/<ticket>/ticket.json`: the folder holds the document and the files.
    const folder = c.location.slice(0, c.location.lastIndexOf('/') + 1);
    const keys = await keysUnder(deps.storage, folder);
    const { outcome, storage_keys } = await archives.deleteArchive(c, keys);
    if (outcome !== 'deleted') return outcome;
    const deleted = await objects.deleteNow(storage_keys); // any that fails stays pending for the sweep
    deps.log?.info(
      { tenantId: c.tenant_id, ticketId: c.ticket_id, objects: storage_keys.length, pending: storage_keys.length - deleted },
      'archived ticket deleted: past its tenant’s deletion age',
    );
    return 'deleted';
  }

  return { deleteOne, candidates: archives.candidates };
}

export function createArchiveDeletionActivities(deps: ArchiveDeletionDeps) {
  const { deleteOne, candidates } = archiveDeleter(deps);
  return {
    async deleteExpiredArchives({ after, limit }: { after: ArchiveDeletionCursor | null; limit: number }): Promise<ArchiveDeletionStep> {
      // A retry (the worker died, or the heartbeat stopped) resumes after the last archive the previous attempt finished.
      const resumed = activityInfo().heartbeatDetails as ArchiveDeletionStep | undefined;
      const step: ArchiveDeletionStep = resumed ?? { examined: 0, deleted: 0, skipped: 0, failed: 0, after };
      const batch = await candidates(step.after, Math.max(0, limit - step.examined));
      for (const c of batch) {
        try {
          const outcome = await deleteOne(c);
          if (outcome === 'deleted') step.deleted++;
          else {
            step.skipped++;
            deps.log?.info({ tenantId: c.tenant_id, ticketId: c.ticket_id, reason: outcome }, 'archived ticket not deleted this time');
          }
        } catch (err) {
          // Storage or the database away: the activity is retried. A row the database refuses: counted, left as it is.
          if (classifyDbError(err) === 'transient') throw err;
          step.failed++;
          deps.log?.error({ tenantId: c.tenant_id, ticketId: c.ticket_id, err }, 'archived ticket deletion failed: the archive stays');
        }
        step.examined++;
        step.after = { closed_at: c.closed_at, ticket_id: c.ticket_id };
        heartbeat(step);
      }
      return step;
    },
  };
}
