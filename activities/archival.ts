/**
 * Archival's activities. Per ticket: export the document and the attachments to object storage, read everything back
 * and verify it, and only then record the archive and remove the hot rows (one transaction, through the narrow
 * SECURITY DEFINER door of migration 019); after the commit, delete the hot attachment objects. Every step is
 * idempotent: a ticket's keys never change and its document's bytes are a function of its rows, so an export repeated
 * after a crash overwrites itself, and a ticket archived already is found so.
 */
import { activityInfo, heartbeat, sleep } from '@temporalio/activity';
import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import type { Redis } from 'ioredis';
import pg from 'pg';
import { ZodError } from 'zod';
import { ARCHIVE_FORMAT, type ArchivalCandidate, type ArchiveDocument, archiveAttachmentKey, archiveDocumentKey, archiveFolder } from '../domain/archive';
import { ticketWorkflowId } from '../domain/ids';
import { pacer } from '../domain/pacing';
import type { Ticket } from '../domain/ticket';
import { archivalEventBody } from '../domain/webhooks';
import { classifyDbError } from '../platform/db-errors';
import { DEFAULT_LIVE_WINDOW, type LiveWindow, publishLiveEvent } from '../platform/live-bus';
import type { Logger } from '../platform/logger';
import { nameBasedUuid } from '../platform/name-uuid';
import { type ObjectStorage, ObjectStorageArgumentError, type StorageClass } from '../platform/object-storage';
import { type Notice, type Row, ticketArchiveStore } from '../stores/ticket-archives';
import type { ArchivalActivities, ArchivalSkip, ArchivalTotals } from '../workflows/archival-contract';
import { workerMetrics } from './metrics';
import { ArchiveIntegrityError, copyVerified, deleteObjects, type Progress, putDocument } from '../platform/archive-objects';

export interface ArchivalDeps {
  pool: pg.Pool;
  storage: ObjectStorage;
  /** To see whether a ticket's workflow run is still open. */
  temporal: Client;
  storageClass: StorageClass;
  log: Logger;
  redis?: Redis;
  liveWindow?: LiveWindow;
  /** At most this many tickets per second per activity (ARCHIVE_TICKETS_PER_SECOND); 0: as fast as it goes. */
  ticketsPerSecond?: number;
  /** Told the bytes each archived ticket wrote (its document and files): the worker counts them. */
  onArchived?: (bytes: number) => void;
}

/** Name-based ids of archival's webhook events: the same archive (ticket, generation) always names its event alike. */
const NOTICE_NAMESPACE = 'b7f3c2a1-4d5e-4f60-9a8b-1c2d3e4f5a6b';
export const noticeId = (ticketId: string, type: Notice['type'], generation: number) => nameBasedUuid(NOTICE_NAMESPACE, `${ticketId}:${type}:${generation}`);

/** The ticket fields a notice and the archive row show, from the exported tickets row. */
export const ticketFieldsOf = (row: Row) =>
  row as unknown as Pick<
    Ticket,
    'id' | 'subject' | 'status' | 'priority' | 'channel' | 'customer_id' | 'assignee_id' | 'group_id' | 'tags' | 'version' | 'created_at' | 'updated_at'
  > & { closed_at: string; sla: unknown };

/** Publishes a committed notice live (at most once, as every live event; REST and webhooks are the record). */
export function publishNotice(deps: { redis?: Redis; liveWindow?: LiveWindow }, tenantId: string, ticket: ReturnType<typeof ticketFieldsOf>, notice: Notice) {
  if (!deps.redis) return;
  const record = {
    audience: 'tickets' as const,
    ticket: { id: ticket.id, status: 'closed', assignee_id: ticket.assignee_id, group_id: ticket.group_id, was: null },
    internal: false,
    event: JSON.parse(notice.body),
  };
  void publishLiveEvent(deps.redis, tenantId, record, deps.liveWindow ?? DEFAULT_LIVE_WINDOW).catch(() => undefined);
}

/** A failure of this ticket alone (counted, logged, the ticket left hot) rather than of storage or the database. */
function isTicketFailure(err: unknown): boolean {
  if (err instanceof pg.DatabaseError) return classifyDbError(err) !== 'transient'; // a row that cannot be stored, a rule refused
  return err instanceof ArchiveIntegrityError || err instanceof ZodError || err instanceof ObjectStorageArgumentError;
}

/**
 * Archives one ticket (a candidate: its age was checked by the look-up) and says how it went; throws when it failed.
 * Apart from the activity so tests and tools can archive a named ticket through exactly this path.
 */
export function ticketArchiver(deps: ArchivalDeps) {
  const { storage, storageClass, log } = deps;
  const archives = ticketArchiveStore(deps.pool);

  async function runIsOpen(ticketId: string): Promise<boolean> {
    try {
      return (await deps.temporal.workflow.getHandle(ticketWorkflowId(ticketId)).describe()).status.name === 'RUNNING';
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return false; // completed long ago and gone with the namespace's retention
      throw err;
    }
  }

  /** Exported objects no archive row refers to (the commit was refused): removed again. */
  async function discardExport(tenantId: string, ticketId: string, keys: string[]): Promise<void> {
    if (await archives.get(tenantId, ticketId)) return; // an earlier archive of this ticket owns those keys
    await deleteObjects(storage, keys);
  }

  async function archiveOne(ref: Pick<ArchivalCandidate, 'tenant_id' | 'ticket_id'>, progress: Progress = () => undefined): Promise<'archived' | ArchivalSkip> {
    const rows = await archives.exportRows(ref.tenant_id, ref.ticket_id);
    if (!rows) return (await archives.get(ref.tenant_id, ref.ticket_id))?.state === 'archived' ? 'already_archived' : 'gone';
    const ticket = ticketFieldsOf(rows.ticket);
    if (ticket.status !== 'closed') return 'not_closed';
    if (rows.held) return 'legal_hold';
    // Closed is terminal, so its run has ended (or is ending this instant): never archive under a live writer.
    if (await runIsOpen(ticket.id)) return 'run_open';

    const folder = archiveFolder(ref.tenant_id, ticket.id, ticket.closed_at);
    const linked = rows.attachments.filter((a) => a.status === 'linked');
    const manifest = linked.map((a) => ({ ...a, archive_key: archiveAttachmentKey(folder, a.id as string) })) as ArchiveDocument['attachments'];
    for (const a of manifest) {
      await copyVerified(
        storage,
        a.storage_key,
        a.archive_key,
        { sha256: a.sha256, size: a.size_bytes },
        { contentType: a.content_type, storageClass, progress },
      );
    }
    const document: ArchiveDocument = {
      format: ARCHIVE_FORMAT,
      tenant_id: ref.tenant_id,
      ticket_id: ticket.id,
      ticket_version: ticket.version,
      closed_at: ticket.closed_at,
      ticket: rows.ticket,
      messages: rows.messages,
      timeline: rows.timeline,
      sla: { state: ticket.sla ?? null, metrics: rows.sla_metrics },
      attachments: manifest,
      audit: rows.audit,
    };
    const location = archiveDocumentKey(folder);
    const { stored, readBack } = await putDocument(storage, location, Buffer.from(JSON.stringify(document)), storageClass, progress);
    if (
      readBack.tenant_id !== ref.tenant_id ||
      readBack.ticket_id !== ticket.id ||
      readBack.ticket_version !== ticket.version ||
      readBack.messages.length !== rows.messages.length ||
      readBack.timeline.length !== rows.timeline.length ||
      readBack.attachments.length !== manifest.length
    ) {
      throw new ArchiveIntegrityError(`${location} reads back as another ticket's document or with rows missing`);
    }

    const committed = await archives.recordArchive(
      ref.tenant_id,
      {
        ticket_id: ticket.id,
        subject: ticket.subject,
        priority: ticket.priority,
        channel: ticket.channel,
        customer_id: ticket.customer_id,
        assignee_id: ticket.assignee_id,
        group_id: ticket.group_id,
        tags: ticket.tags,
        ticket_version: ticket.version,
        ticket_created_at: ticket.created_at,
        ticket_updated_at: ticket.updated_at,
        closed_at: ticket.closed_at,
        location,
        sha256: stored.sha256,
        size_bytes: stored.size,
        storage_class: storageClass,
        message_count: rows.messages.length,
        attachment_count: manifest.length,
        attachment_bytes: manifest.reduce((sum, a) => sum + a.size_bytes, 0),
        source_keys: rows.attachments.map((a) => a.storage_key as string),
      },
      ({ generation, archived_at }) => ({
        id: noticeId(ticket.id, 'ticket.archived', generation),
        type: 'ticket.archived',
        body: archivalEventBody('ticket.archived', archived_at, ticket, { archive: { location, sha256: stored.sha256, size: stored.size } }),
      }),
    );
    if (committed.outcome !== 'archived') {
      // A hold set (or the ticket archived by another run) while this one exported: nothing was removed.
      if (committed.outcome !== 'already_archived') await discardExport(ref.tenant_id, ticket.id, [location, ...manifest.map((a) => a.archive_key)]);
      return committed.outcome;
    }
    if (committed.published && committed.notice) publishNotice(deps, ref.tenant_id, ticket, committed.notice);
    await archives.purgeSources(ref.tenant_id, ticket.id, (keys) => deleteObjects(storage, keys));
    log.info({ tenantId: ref.tenant_id, ticketId: ticket.id, location, sha256: stored.sha256, attachments: manifest.length }, 'ticket archived');
    deps.onArchived?.(stored.size + manifest.reduce((sum, a) => sum + a.size_bytes, 0));
    return 'archived';
  }

  return { archiveOne };
}

export function createArchivalActivities(deps: ArchivalDeps): ArchivalActivities {
  const { storage, log } = deps;
  const archives = ticketArchiveStore(deps.pool);
  const { archiveOne } = ticketArchiver({ ...deps, onArchived: (bytes) => workerMetrics.archivedBytes(bytes) });

  return {
    findArchivalCandidates: ({ as_of, default_after_days, after, limit }) => archives.candidates(as_of, default_after_days, after, limit),

    async archiveTickets({ tickets }) {
      type Progressed = { next: number; totals: Omit<ArchivalTotals, 'purged'> };
      // A retry (the worker died, or the heartbeat stopped) resumes after the last ticket the previous attempt finished.
      const resumed = activityInfo().heartbeatDetails as Progressed | undefined;
      const totals = resumed?.totals ?? { archived: 0, skipped: 0, failed: 0, failures: [] };
      // Archival is background work: paced, so a backlog does not take the machine from the API's traffic.
      const pace = pacer(deps.ticketsPerSecond ? 1000 / deps.ticketsPerSecond : 0, Date.now);
      for (let i = resumed?.next ?? 0; i < tickets.length; i++) {
        const ref = tickets[i]!;
        const progress = () => heartbeat({ next: i, totals } satisfies Progressed);
        progress();
        const wait = pace.delay();
        if (wait > 0) await sleep(wait); // the activity's own sleep: a cancellation ends it
        // Alive while a slow store takes a large part: only a dead (or stuck) worker misses the heartbeat timeout.
        const alive = setInterval(progress, 3000);
        try {
          const outcome = await archiveOne(ref, progress);
          workerMetrics.archivalOutcome(outcome);
          if (outcome === 'archived') totals.archived++;
          else {
            totals.skipped++;
            log.info({ tenantId: ref.tenant_id, ticketId: ref.ticket_id, reason: outcome }, 'ticket not archived this time');
          }
        } catch (err) {
          if (!isTicketFailure(err)) throw err; // storage or the database away: the activity is retried
          totals.failed++;
          workerMetrics.archivalOutcome('failed');
          const error = (err as Error).message;
          if (totals.failures.length < 20) totals.failures.push({ ticket_id: ref.ticket_id, error });
          log.error({ tenantId: ref.tenant_id, ticketId: ref.ticket_id, err }, 'ticket archival failed: the ticket stays hot');
        } finally {
          clearInterval(alive);
        }
        heartbeat({ next: i + 1, totals } satisfies Progressed);
      }
      return totals;
    },

    async purgeArchivedSources({ limit }) {
      let purged = 0;
      for (const { tenant_id, ticket_id } of await archives.unpurged(limit)) {
        if (await archives.purgeSources(tenant_id, ticket_id, (keys) => deleteObjects(storage, keys))) purged++;
      }
      return purged;
    },
  };
}
