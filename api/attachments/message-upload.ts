/**
 * `POST /api/v1/tickets/:id/messages` as `multipart/form-data`: the message's fields plus files. The files are streamed
 * into object storage first (`attachments/<tenant>/<ticket>/<attachment id>`), their rows inserted as `stored`, then
 * the message goes through the same Workflow Update as a JSON one, carrying only the files' metadata; the projection
 * links the rows in the statement that writes the message.
 *
 * Nothing is left behind by a request that fails: an upload that fails removes what it stored (multipart.ts), and a
 * message the workflow refuses has its rows and objects removed here. The one exception is a write whose outcome is
 * unknown (the workflow did not answer in time: 503, "it may still apply"): its files stay `stored`, to be linked
 * if the update applies, else removed after UNCONFIRMED_UPLOAD_HOLD_MS by the data retention schedule
 * (`expireUnlinkedAttachments`) or at once by `npm run admin -- sweep-attachments`.
 */
import type { Request } from 'express';
import { type AttachmentSummary, attachmentStorageKey } from '../../domain/attachment';
import { DeskflowError } from '../../domain/errors';
import { AddMessageInput, type Message, type Ticket } from '../../domain/ticket';
import type { ObjectStorage } from '../../platform/object-storage';
import type { AttachmentStore } from '../../stores/attachments';
import type { TicketStore } from '../../stores/tickets';
import { identityOf, parseBody } from '../request';
import type { TicketWorkflows } from '../ticket-workflows';
import { deleteObjects, receiveForm, type StoredFile, type UploadRules } from './multipart';

export interface MessageUploadDeps {
  tickets: TicketStore;
  attachments: AttachmentStore;
  workflows: TicketWorkflows;
  storage: ObjectStorage;
  rules: Omit<UploadRules, 'fields' | 'fileField'>;
}

/** The form: the JSON body's fields (each at most its longest valid value, 4 bytes a character) and `files`. */
const FORM_FIELDS = { body: 65_536 * 4, visibility: 16, author_type: 16 };

/** The write's outcome is unknown (it may still apply): its files must stay for the update to link them. */
export const mayStillApply = (error: unknown) => !(error instanceof DeskflowError) || error.code === 'service_unavailable';

export async function addMessageWithFiles(req: Request, ticketId: string, deps: MessageUploadDeps): Promise<{ ticket: Ticket; message: Message }> {
  const who = identityOf(req);
  // Before a byte is stored: the ticket must be the tenant's and open (the workflow checks again, authoritatively).
  const ticket = await deps.tickets.get(who.tenantId, ticketId);
  if (!ticket) throw new DeskflowError('not_found', 'ticket not found');
  if (ticket.status === 'closed') throw new DeskflowError('ticket_closed', `ticket ${ticketId} is closed`);

  const form = await receiveForm(req, deps.storage, { ...deps.rules, fields: FORM_FIELDS, fileField: 'files' }, (id) =>
    attachmentStorageKey(who.tenantId, ticketId, id),
  );
  let rowsInserted = false;
  try {
    req.body = form.fields;
    const input = parseBody(AddMessageInput, req);
    await deps.attachments.insertStored(
      who.tenantId,
      who.actor,
      form.files.map((f) => ({ ...f, ticket_id: ticketId })),
    );
    rowsInserted = true;
    const added = await deps.workflows.addMessage(who, ticketId, req.resourceId!, input, undefined, form.files.map(summaryOf));
    // A retry under the same Idempotency-Key whose first try went through gets the first message back: this try's
    // files are not on it, and go.
    const linked = new Set(added.message.attachments.map((a) => a.id));
    const extra = form.files.filter((f) => !linked.has(f.id));
    // The message is in: a failure to tidy up must not turn its answer into an error (the sweep finds what stays).
    if (extra.length > 0) await discard(deps, who.tenantId, extra, true).catch(() => undefined);
    return added;
  } catch (error) {
    if (!rowsInserted || !mayStillApply(error)) await discard(deps, who.tenantId, form.files, rowsInserted);
    throw error;
  }
}

export const summaryOf = (f: StoredFile): AttachmentSummary => ({
  id: f.id,
  filename: f.filename,
  content_type: f.content_type,
  size: f.size,
  sha256: f.sha256,
});

/**
 * Objects first, then rows (only unlinked ones can go, and these files are on no message): should either step fail,
 * what remains is a `stored` row, which `sweep-attachments` finds, never an object no row points to.
 */
async function discard(deps: MessageUploadDeps, tenantId: string, files: StoredFile[], rowsInserted: boolean): Promise<void> {
  if (files.length === 0) return;
  await deleteObjects(
    deps.storage,
    files.map((f) => f.storage_key),
  );
  if (rowsInserted)
    await deps.attachments.discard(
      tenantId,
      files.map((f) => f.id),
    );
}
