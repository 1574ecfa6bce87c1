/**
 * Restoring an archived ticket: the document is read and verified against its record, the files are copied back to
 * their hot keys (each verified), then one transaction puts the rows back and marks the archive `restored`. The ticket
 * comes back exactly as it was archived: closed, at its version, read-only (closed is terminal; a customer writing
 * again opens a new ticket, as after any close). Its workflow is not restarted: a closed ticket has no lifecycle left.
 */
import { heartbeat } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { archivalEventBody } from '../domain/webhooks';
import type { LiveWindow } from '../platform/live-bus';
import type { Logger } from '../platform/logger';
import type { ObjectStorage } from '../platform/object-storage';
import { ticketArchiveStore } from '../stores/ticket-archives';
import type { TicketRestoreActivities } from '../workflows/ticket-restore-contract';
import { noticeId, publishNotice, ticketFieldsOf } from './archival';
import { ArchiveIntegrityError, copyVerified, deleteObjects, readDocument } from '../platform/archive-objects';

export function createTicketRestoreActivities(deps: {
  pool: pg.Pool;
  storage: ObjectStorage;
  log: Logger;
  redis?: Redis;
  liveWindow?: LiveWindow;
}): TicketRestoreActivities {
  const { storage, log } = deps;
  const archives = ticketArchiveStore(deps.pool);
  const progress = () => heartbeat();

  /**
   * The archive was deleted for its age (migration 022) while this restore ran: the files it copied back to their hot
   * keys belong to nothing (no hot ticket, no archive), so they go.
   */
  async function dropCopies(tenantId: string, ticketId: string): Promise<void> {
    const keys: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await storage.list(`attachments/${tenantId}/${ticketId}/`, cursor ? { cursor } : {});
      keys.push(...page.objects.map((o) => o.key));
      cursor = page.nextCursor;
    } while (cursor);
    await deleteObjects(storage, keys);
  }

  return {
    async restoreArchivedTicket({ tenant_id, ticket_id, actor, request_id }) {
      const row = await archives.get(tenant_id, ticket_id);
      if (!row) return { outcome: 'not_archived' };
      if (row.state === 'restored') return { outcome: 'already_restored' };
      // Hot files an interrupted archival left go first, under the archive row's lock: no later pass can then delete
      // the files this restore copies back.
      await archives.purgeSources(tenant_id, ticket_id, (keys) => deleteObjects(storage, keys));
      // Alive while a slow store copies a large file: only a dead (or stuck) worker misses the heartbeat timeout.
      const alive = setInterval(progress, 3000);
      try {
        const doc = await readDocument(storage, row.location, { sha256: row.sha256, size: row.size_bytes }, progress);
        if (doc.tenant_id !== tenant_id || doc.ticket_id !== ticket_id || doc.ticket.tenant_id !== tenant_id || doc.ticket.id !== ticket_id) {
          throw new ArchiveIntegrityError(`${row.location} is not this ticket's archive`);
        }
        for (const a of doc.attachments) {
          if (!a.storage_key.startsWith(`attachments/${tenant_id}/${ticket_id}/`)) throw new ArchiveIntegrityError(`${a.id}: a key outside the ticket`);
          await copyVerified(storage, a.archive_key, a.storage_key, { sha256: a.sha256, size: a.size_bytes }, { contentType: a.content_type, progress });
        }
        const ticket = ticketFieldsOf(doc.ticket);
        const done = await archives.restore(tenant_id, doc, actor, request_id ?? null, ({ generation, restored_at }) => ({
          id: noticeId(ticket_id, 'ticket.restored', generation),
          type: 'ticket.restored',
          body: archivalEventBody('ticket.restored', restored_at, ticket, { actor }),
        }));
        if (done.outcome === 'not_archived') await dropCopies(tenant_id, ticket_id);
        if (done.published && done.notice) publishNotice(deps, tenant_id, ticket, done.notice);
        if (done.outcome === 'restored') log.info({ tenantId: tenant_id, ticketId: ticket_id, actor }, 'ticket restored from its archive');
        return { outcome: done.outcome };
      } catch (err) {
        if (!(err instanceof ArchiveIntegrityError)) throw err;
        // Not corrupt but gone: deleted for its age while this restore read it (its objects go after the row).
        if (!(await archives.get(tenant_id, ticket_id))) {
          await dropCopies(tenant_id, ticket_id);
          return { outcome: 'not_archived' };
        }
        log.error({ tenantId: tenant_id, ticketId: ticket_id, err }, 'archive failed verification: not restored');
        // Retrying cannot mend a missing or altered archive: the run fails at once, visibly.
        throw ApplicationFailure.create({ type: 'archive_corrupt', message: err.message, nonRetryable: true });
      } finally {
        clearInterval(alive);
      }
    },
  };
}
