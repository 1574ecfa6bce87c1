/**
 * Archival of closed tickets: where an export lives in object storage, what the exported document holds, and what the
 * API shows of an archived ticket and of a legal hold. Pure: the exporting and restoring live in activities/.
 */
import { z } from 'zod';
import { Uuid } from './ids';
import { Text } from './text';
import { Actor, Channel, TicketPriority } from './ticket';

/** The document's format; a reader checks it before anything else. */
export const ARCHIVE_FORMAT = 'deskflow.ticket-archive.v1';

/**
 * `archive/<tenant>/<yyyy>/<mm>/<ticket>/`: the month the ticket closed (UTC), so a key never changes for a ticket and a
 * repeated export (a crashed run, a restored ticket archived again) writes the same objects, never a second copy.
 */
export function archiveFolder(tenantId: string, ticketId: string, closedAt: string): string {
  const iso = new Date(closedAt).toISOString();
  return `archive/${tenantId}/${iso.slice(0, 4)}/${iso.slice(5, 7)}/${ticketId}/`;
}
/** The document: the ticket, its messages, timeline, SLA record, attachment manifest and audit entries. */
export const archiveDocumentKey = (folder: string) => `${folder}ticket.json`;
/** An attachment's bytes beside the document. */
export const archiveAttachmentKey = (folder: string, attachmentId: string) => `${folder}attachments/${attachmentId}`;

/** The Temporal schedule of a deployment's archival runs (one per ticket task queue, like the webhook retention). */
export const archivalScheduleId = (taskQueue: string) => `deskflow-archival-${taskQueue}`;

/** An archival run walks candidates in (closed_at, id) order; a ticket it skips or fails waits for a later run. */
export interface ArchivalCursor {
  /** ISO 8601 to the microsecond: the cursor names exactly the row it stopped at. */
  closed_at: string;
  ticket_id: string;
}

export interface ArchivalCandidate extends ArchivalCursor {
  tenant_id: string;
}

/** A database row as exported: every column, timestamps as ISO 8601 in UTC with microseconds. */
const Row = z.record(z.string(), z.unknown());

/** One file in the manifest: the attachment's row, plus where its bytes are in the archive. */
export const ArchivedAttachment = z.looseObject({
  id: Uuid,
  message_id: Uuid.nullable(),
  filename: z.string(),
  content_type: z.string(),
  size_bytes: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** Where the file was (and is again after a restore). */
  storage_key: z.string(),
  /** Where the archive keeps it. */
  archive_key: z.string(),
});
export type ArchivedAttachment = z.infer<typeof ArchivedAttachment>;

/**
 * The archived document (`GET /api/v1/tickets/:id/archive`). Rows are exported whole (every column, as stored), so a
 * restore puts back exactly what was there; the manifest lists each attachment with its SHA-256.
 */
export const ArchiveDocument = z.object({
  format: z.literal(ARCHIVE_FORMAT),
  tenant_id: Uuid,
  ticket_id: Uuid,
  ticket_version: z.number().int().positive(),
  closed_at: z.string(),
  ticket: Row.describe('the tickets row'),
  messages: z.array(Row).describe('oldest first'),
  timeline: z.array(Row).describe('one event per ticket version, in order'),
  sla: z.object({ state: z.unknown().describe("the ticket's SLA clocks when it closed (null: no policy)"), metrics: z.array(Row) }),
  attachments: z.array(ArchivedAttachment).describe('the attachment manifest'),
  audit: z.array(Row).describe("the ticket's audit entries (they also stay in the audit trail)"),
});
export type ArchiveDocument = z.infer<typeof ArchiveDocument>;

/** What `GET /api/v1/tickets/:id` answers for an archived ticket: its metadata, never its contents. */
export const ArchivedTicket = z.object({
  id: Uuid,
  tenant_id: Uuid,
  subject: z.string(),
  status: z.literal('closed'),
  priority: TicketPriority,
  channel: Channel,
  customer_id: Uuid,
  assignee_id: Uuid.nullable(),
  group_id: Uuid.nullable(),
  tags: z.array(z.string()),
  version: z.number().int().positive(),
  created_at: z.string(),
  updated_at: z.string(),
  closed_at: z.string(),
  archived_at: z.string(),
  archive: z.object({
    /** The document's object key. */
    location: z.string(),
    sha256: z.string(),
    size: z.number().int(),
    storage_class: z.string(),
    messages: z.number().int(),
    attachments: z.number().int(),
    attachment_bytes: z.number().int(),
    /** Where the document is served. */
    href: z.string(),
  }),
  legal_hold: z.boolean(),
});
export type ArchivedTicket = z.infer<typeof ArchivedTicket>;

export const LegalHold = z.object({
  ticket_id: Uuid,
  held: z.boolean(),
  reason: z.string().nullable(),
  /** The last change (set or lifted); null when the ticket was never held. */
  changed_at: z.string().nullable(),
  // Inline (not the shared Actor schema): a nullable reference to a component loses its null in the generated document.
  changed_by: z.object({ type: Actor.shape.type, id: z.string().nullable() }).nullable(),
});
export type LegalHold = z.infer<typeof LegalHold>;

export const SetLegalHoldInput = z.object({ reason: Text.trim().min(1).max(500).describe('why the ticket is held (a case number, a request)') }).strict();
export type SetLegalHoldInput = z.infer<typeof SetLegalHoldInput>;
