/**
 * Archived tickets and legal holds: the archived document (streamed from object storage and checked against its
 * SHA-256 as it goes), an admin's restore into the hot tables, and the legal hold that keeps a ticket from being
 * archived or deleted. `GET /api/v1/tickets/:id` itself answers an archived ticket's metadata (api/routes/tickets.ts).
 */
import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Client, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { ArchiveDocument, type ArchivedTicket, LegalHold, SetLegalHoldInput } from '../../domain/archive';
import { DeskflowError } from '../../domain/errors';
import type { Identity } from '../../domain/identity';
import { Ticket } from '../../domain/ticket';
import type { Logger } from '../../platform/logger';
import type { ObjectStorage } from '../../platform/object-storage';
import type { LegalHoldStore } from '../../stores/legal-holds';
import type { ArchiveRow, TicketArchiveStore } from '../../stores/ticket-archives';
import type { TicketStore } from '../../stores/tickets';
import { TICKET_RESTORE_WORKFLOW_TYPE, type TicketRestoreResult, ticketRestoreStartOptions } from '../../workflows/ticket-restore-contract';
import type { ticketRestoreWorkflow } from '../../workflows/ticket-restore.workflow';
import type { RouteSpec } from '../http/route';
import { IdParams } from '../http/schemas';
import { etagOf, identityOf, idParam, notModified, parseBody } from '../request';
import { translate } from '../ticket-workflows';

/** The metadata `GET /api/v1/tickets/:id` answers once the hot row is gone. */
export function archivedTicketOf(a: ArchiveRow): ArchivedTicket {
  return {
    id: a.ticket_id,
    tenant_id: a.tenant_id,
    subject: a.subject,
    status: 'closed',
    priority: a.priority as ArchivedTicket['priority'],
    channel: a.channel as ArchivedTicket['channel'],
    customer_id: a.customer_id,
    assignee_id: a.assignee_id,
    group_id: a.group_id,
    tags: a.tags,
    version: a.ticket_version,
    created_at: a.ticket_created_at,
    updated_at: a.ticket_updated_at,
    closed_at: a.closed_at,
    archived_at: a.archived_at,
    archive: {
      location: a.location,
      sha256: a.sha256,
      size: a.size_bytes,
      storage_class: a.storage_class,
      messages: a.message_count,
      attachments: a.attachment_count,
      attachment_bytes: a.attachment_bytes,
      href: `/api/v1/tickets/${a.ticket_id}/archive`,
    },
    legal_hold: a.legal_hold,
  };
}

export interface ArchiveRouteDeps {
  tickets: TicketStore;
  archives: TicketArchiveStore;
  holds: LegalHoldStore;
  storage: ObjectStorage;
  temporal: Client;
  taskQueue: string;
  /** How long a restore may take before the answer is a 503 (it carries on; the same request again joins it). */
  restoreTimeoutMs: number;
  log: Logger;
}

/**
 * Passes the bytes on while hashing them, one chunk behind: the last one goes only once the whole document matched
 * its SHA-256, so a client never receives a complete (Content-Length) answer that is not the archived document.
 */
function verifiedStream(sha256: string): Transform {
  const hash = createHash('sha256');
  let held: Buffer | null = null;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      const previous = held;
      held = chunk;
      callback(null, previous ?? undefined);
    },
    flush(callback) {
      if (hash.digest('hex') !== sha256) return callback(new Error('the archive document does not match its SHA-256'));
      callback(null, held ?? undefined);
    },
  });
}

export function archiveRoutes(deps: ArchiveRouteDeps): RouteSpec[] {
  const { tickets, archives, holds, storage } = deps;
  const tag = 'Tickets';

  async function restore(who: Identity, ticketId: string, requestId: string): Promise<TicketRestoreResult> {
    const deadline = Date.now() + deps.restoreTimeoutMs;
    try {
      return await deps.temporal.withDeadline(deadline, () =>
        deps.temporal.workflow.execute<typeof ticketRestoreWorkflow>(
          TICKET_RESTORE_WORKFLOW_TYPE,
          ticketRestoreStartOptions(deps.taskQueue, { tenant_id: who.tenantId, ticket_id: ticketId, actor: who.actor, request_id: requestId }),
        ),
      );
    } catch (err) {
      // The activity's non-retryable failure, under the activity's failure, under the run's.
      let cause: unknown = err instanceof WorkflowFailedError ? err.cause : undefined;
      while (cause && !(cause instanceof ApplicationFailure)) cause = (cause as Error).cause;
      if (cause instanceof ApplicationFailure && cause.type === 'archive_corrupt') {
        throw new DeskflowError('internal', `the archive failed verification, nothing was restored: ${cause.message}`);
      }
      if (Date.now() >= deadline) {
        throw new DeskflowError('service_unavailable', 'the restore did not finish in time; it carries on: send the same request again to follow it', {
          retry_after: 5,
        });
      }
      throw translate(err);
    }
  }

  return [
    {
      method: 'get',
      path: '/api/v1/tickets/:id/archive',
      tag,
      summary: "An archived ticket's document: the ticket, messages, timeline, SLA record, attachment manifest and audit entries",
      auth: 'bearer',
      scope: 'tickets:read',
      conditional: ['If-None-Match'],
      request: { params: IdParams },
      responses: {
        200: {
          description:
            'The document as archived (also after a restore: the archive is kept), streamed from object storage. `ETag` and ' +
            '`Repr-Digest` carry its SHA-256; the stream is checked against it as it goes and cut off (no clean end) on a mismatch.',
          body: ArchiveDocument,
          headers: ['ETag', 'Repr-Digest', 'Content-Length'],
        },
        304: { description: 'Not modified (the ETag is the SHA-256 of the document)' },
      },
      handler: async (req, res) => {
        const who = identityOf(req);
        const archive = await archives.get(who.tenantId, idParam(req, 'id'));
        if (!archive) throw new DeskflowError('not_found', 'this ticket has no archive');
        const etag = `"${archive.sha256}"`;
        res.setHeader('ETag', etag);
        if (notModified(req, etag)) return void res.status(304).end();
        const object = await storage.get(archive.location);
        if (!object) throw new DeskflowError('internal', 'the archive is recorded but its document is missing from object storage');
        res.status(200).set({
          'Content-Type': 'application/json',
          'Content-Length': String(archive.size_bytes),
          'Repr-Digest': `sha-256=:${Buffer.from(archive.sha256, 'hex').toString('base64')}:`,
          'X-Content-Type-Options': 'nosniff',
          'Cache-Control': 'private, no-cache',
        });
        try {
          await pipeline(object.body, verifiedStream(archive.sha256), res);
        } catch (err) {
          // The client went away, the store failed, or the bytes are not the archive's: the answer ends unfinished.
          if (!req.destroyed) deps.log.error({ err, location: archive.location }, 'archive document not served whole');
          object.body.destroy();
          res.destroy();
        }
      },
    },
    {
      method: 'post',
      path: '/api/v1/tickets/:id/restore',
      tag,
      summary: 'Restore an archived ticket into the hot tables (closed and read-only, as it was archived)',
      auth: 'bearer',
      scope: 'tickets:manage',
      request: { params: IdParams },
      responses: {
        200: { description: 'The restored ticket (restoring one restored already answers the same)', body: Ticket, headers: ['ETag'] },
        409: { description: 'The ticket is not archived (it is in the hot tables and never was)' },
      },
      handler: async (req, res) => {
        const who = identityOf(req);
        const id = idParam(req, 'id');
        const archive = await archives.get(who.tenantId, id);
        if (!archive) {
          if (await tickets.get(who.tenantId, id)) throw new DeskflowError('conflict', 'this ticket is not archived');
          throw new DeskflowError('not_found', 'ticket not found');
        }
        // Restored already: the answer is the ticket, as a first restore's.
        const { outcome } = archive.state === 'restored' ? { outcome: 'already_restored' } : await restore(who, id, req.requestId);
        // Deleted for its age (tenant's archive_delete_after_years) while the restore ran: gone, as for a later request.
        if (outcome === 'not_archived') throw new DeskflowError('not_found', 'ticket not found');
        const ticket = await tickets.get(who.tenantId, id);
        if (!ticket) throw new DeskflowError('internal', `the restore ended as ${outcome} but the ticket is not in the hot tables`);
        res.setHeader('ETag', etagOf(ticket.version)).json(ticket);
      },
    },
    {
      method: 'get',
      path: '/api/v1/tickets/:id/legal-hold',
      tag,
      summary: "The ticket's legal hold (hot or archived tickets)",
      auth: 'bearer',
      scope: 'tickets:read',
      request: { params: IdParams },
      responses: { 200: { description: 'The hold (`held: false` when there is none)', body: LegalHold } },
      handler: async (req, res) => {
        const hold = await holds.get(identityOf(req).tenantId, idParam(req, 'id'));
        if (!hold) throw new DeskflowError('not_found', 'ticket not found');
        res.json(hold);
      },
    },
    {
      method: 'put',
      path: '/api/v1/tickets/:id/legal-hold',
      tag,
      summary: 'Put the ticket under a legal hold: it is not archived, and neither it nor its archive is deleted, until lifted',
      auth: 'bearer',
      scope: 'tickets:manage',
      request: { params: IdParams, body: SetLegalHoldInput },
      responses: { 200: { description: 'The hold (audited)', body: LegalHold } },
      handler: async (req, res) => {
        const who = identityOf(req);
        const { reason } = parseBody(SetLegalHoldInput, req);
        const hold = await holds.set(who, idParam(req, 'id'), reason, req.requestId);
        if (!hold) throw new DeskflowError('not_found', 'ticket not found');
        res.json(hold);
      },
    },
    {
      method: 'delete',
      path: '/api/v1/tickets/:id/legal-hold',
      tag,
      summary: 'Lift the legal hold (audited); the ticket is archived again when its age says so',
      auth: 'bearer',
      scope: 'tickets:manage',
      request: { params: IdParams },
      responses: { 204: { description: 'Lifted (or there was none)' } },
      handler: async (req, res) => {
        if (!(await holds.release(identityOf(req), idParam(req, 'id'), req.requestId))) throw new DeskflowError('not_found', 'ticket not found');
        res.status(204).end();
      },
    },
  ];
}
