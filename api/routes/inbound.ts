/**
 * Public inbound endpoint for email providers: `POST /api/v1/inbound/:tenant/email`, signed with the
 * tenant's inbound secret (`X-Deskflow-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`),
 * at most INBOUND_RATE_LIMIT_PER_MIN correctly signed emails per tenant; requests failing verification count
 * against their source address instead (INBOUND_BAD_SIGNATURES_PER_MIN). A reply threads onto its ticket
 * through In-Reply-To / References when it comes from the ticket's requester; anything else opens a ticket
 * for the sender (created as a customer if new).
 * Ids derive from the email's Message-ID, so a provider's retry never duplicates anything.
 */
import { createHash } from 'node:crypto';
import type { Request } from 'express';
import { z } from 'zod';
import { Text } from '../../domain/text';
import { DeskflowError } from '../../domain/errors';
import { isUuid } from '../../domain/ids';
import type { Config } from '../../platform/config';
import { verifyPayload } from '../../platform/signing';
import type { CustomerStore } from '../../stores/customers';
import type { RateLimiters } from '../http/rate-limit';
import type { RouteSpec } from '../http/route';
import { parseBody } from '../request';
import type { Identity } from '../../domain/identity';
import type { TenantStore } from '../../stores/tenants';
import type { TicketStore } from '../../stores/tickets';
import type { TicketWorkflows } from '../ticket-workflows';
import { attachmentStorageKey, MAX_ATTACHMENTS_PER_MESSAGE, UNCONFIRMED_UPLOAD_HOLD_MS } from '../../domain/attachment';
import type { AttachmentStore } from '../../stores/attachments';
import type { ObjectStorage } from '../../platform/object-storage';
import type { FileRules } from '../attachments/file-gate';
import { storeInlineFiles } from '../attachments/inline-files';
import { mayStillApply, summaryOf } from '../attachments/message-upload';
import { deleteObjects, type StoredFile } from '../attachments/multipart';

export const SIGNATURE_HEADER = 'x-deskflow-signature';

const MessageId = Text.trim().min(3).max(998);
/** As providers post them (Postmark, SendGrid's JSON parse): the bytes base64-encoded in the body the signature covers. */
const InboundAttachment = z
  .object({
    filename: Text.max(1000),
    content_type: Text.max(255),
    content: z.base64(),
  })
  .strict();
export const InboundEmail = z
  .object({
    message_id: MessageId,
    from: z.object({ email: z.email().max(254), name: Text.trim().max(200).optional() }).strict(),
    subject: Text.trim().max(250).default(''),
    text: Text.trim().min(1).max(65_536),
    in_reply_to: MessageId.optional(),
    references: z.array(MessageId).max(50).default([]),
    /** Each at most ATTACHMENT_MAX_BYTES decoded, at most ATTACHMENT_MAX_FILES, typed and checked like an upload's. */
    attachments: z.array(InboundAttachment).max(MAX_ATTACHMENTS_PER_MESSAGE).default([]),
  })
  .strict();

type InboundEmail = z.infer<typeof InboundEmail>;

const InboundResult = z.object({ ticket_id: z.uuid(), message_id: z.uuid(), threaded: z.boolean(), duplicate: z.boolean() });

/** A stable uuid from a name, so retries of one email map to the same ticket/message/customer. */
function nameUuid(...parts: string[]): string {
  const h = createHash('sha256').update(parts.join('\u0000')).digest();
  h[6] = (h[6]! & 0x0f) | 0x50; // version nibble: name-based
  h[8] = (h[8]! & 0x3f) | 0x80; // RFC 4122 variant
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** An email's n-th file on `ticketId`: derived from the email, so a provider's retry rewrites the same object. */
const emailFileId = (tenantId: string, ticketId: string, email: InboundEmail, index: number) =>
  nameUuid(tenantId, 'attachment', ticketId, email.message_id, String(index));

interface EmailFileDeps {
  storage: ObjectStorage;
  attachments: AttachmentStore;
  rules: FileRules;
}

/**
 * Runs the write that carries the email's files. The files go into storage before the workflow sees the message, and
 * their rows are the write's own (a new ticket's cannot exist before it), so they are held first (listed as pending
 * deletions not due for UNCONFIRMED_UPLOAD_HOLD_MS, migration 023) and released once the write has answered. A write
 * refused for sure takes its files with it; one that may still apply (503) leaves them held: linked if it applies,
 * deleted by the data retention schedule if it never does and the provider never retries.
 */
async function withEmailFiles<T>(
  deps: EmailFileDeps,
  tenantId: string,
  ticketId: string,
  email: InboundEmail,
  write: (files: StoredFile[]) => Promise<T>,
): Promise<T> {
  if (email.attachments.length === 0) return write([]);
  const keys = email.attachments.map((_, index) => attachmentStorageKey(tenantId, ticketId, emailFileId(tenantId, ticketId, email, index)));
  await deps.attachments.holdUnconfirmed(tenantId, keys, UNCONFIRMED_UPLOAD_HOLD_MS);
  // Released only when nothing can be left: the write answered, or its files are gone for sure. Otherwise the hold stays
  // and the sweep deletes whatever is there after it (a missing object is no error).
  let settled = false;
  try {
    let files: StoredFile[];
    try {
      // Stores every file or none: a refused file (a DeskflowError) comes back with those stored before it removed.
      files = await storeInlineFiles(
        deps.storage,
        email.attachments,
        deps.rules,
        (index) => emailFileId(tenantId, ticketId, email, index),
        (id) => attachmentStorageKey(tenantId, ticketId, id),
      );
    } catch (error) {
      settled = error instanceof DeskflowError;
      throw error;
    }
    try {
      const result = await write(files);
      settled = true;
      return result;
    } catch (error) {
      if (!mayStillApply(error))
        settled = await deleteObjects(deps.storage, keys).then(
          () => true,
          () => false,
        );
      throw error;
    }
  } finally {
    // A failed release leaves a hold the sweep settles: a key a row points to is forgotten, a missing object is no error.
    if (settled) await deps.attachments.releaseUnconfirmed(tenantId, keys).catch(() => undefined);
  }
}

function verifySignature(req: Request, secret: string): boolean {
  const raw = (req as Request & { rawBody?: Buffer }).rawBody;
  const header = req.headers[SIGNATURE_HEADER];
  return raw !== undefined && typeof header === 'string' && verifyPayload(header, raw, secret);
}

export function inboundRoutes(deps: {
  config: Config;
  limiters: RateLimiters;
  tenants: TenantStore;
  customers: CustomerStore;
  tickets: TicketStore;
  workflows: TicketWorkflows;
  storage: ObjectStorage;
  attachments: AttachmentStore;
}): RouteSpec[] {
  const { config, limiters, tenants, customers, tickets, workflows, storage, attachments } = deps;
  const fileDeps: EmailFileDeps = {
    storage,
    attachments,
    rules: { maxBytes: config.ATTACHMENT_MAX_BYTES, allowedTypes: new Set(config.ATTACHMENT_ALLOWED_TYPES) },
  };
  return [
    {
      method: 'post',
      path: '/api/v1/inbound/:tenant/email',
      tag: 'Inbound',
      auth: 'inbound',
      summary: 'Receive an email from a provider (signed with the tenant inbound secret)',
      request: { params: z.object({ tenant: z.uuid() }), body: InboundEmail },
      responses: {
        201: { description: 'A new ticket was opened', body: InboundResult },
        200: { description: 'Threaded onto an existing ticket, or a duplicate delivery', body: InboundResult },
        401: { description: 'Missing or bad signature' },
        429: { description: 'More than the inbound limit per minute for the tenant, or too many bad signatures from this source' },
      },
      handler: async (req, res) => {
        const tenantId = String(req.params.tenant);
        if (!isUuid(tenantId)) throw new DeskflowError('not_found');
        const secret = await tenants.inboundSecret(tenantId);
        // Verified before anything is counted against the tenant: forged requests must not spend its budget.
        // Unknown tenant, no secret configured, or a bad signature all look the same from outside, and all
        // spend the sender's own budget instead (a 429 once it is gone; a correctly signed email still passes).
        if (!secret || !verifySignature(req, secret)) {
          await limiters.consume(res, { name: 'inbound-bad-signature', points: config.INBOUND_BAD_SIGNATURES_PER_MIN, windowSec: 60 }, req.ip ?? 'unknown');
          throw new DeskflowError('unauthenticated', 'missing or invalid inbound signature');
        }
        await limiters.consume(res, { name: 'inbound', points: config.INBOUND_RATE_LIMIT_PER_MIN, windowSec: 60 }, tenantId);
        const email = parseBody(InboundEmail, req);
        if (email.attachments.length > config.ATTACHMENT_MAX_FILES) {
          throw new DeskflowError('payload_too_large', `at most ${config.ATTACHMENT_MAX_FILES} attachments per email`, {
            max_files: config.ATTACHMENT_MAX_FILES,
          });
        }

        const who: Identity = { tenantId, actor: { type: 'system', id: 'inbound-email' }, scopes: new Set(), credential: { kind: 'inbound' } };
        const messageId = nameUuid(tenantId, 'message', email.message_id);
        // A redelivery: this Message-ID is already on a ticket (threaded, or the message that opened it).
        const delivered = await tickets.threadOf(tenantId, [email.message_id]);
        if (delivered) return void res.json({ ticket_id: delivered, message_id: messageId, threaded: true, duplicate: true });

        const threadTo = await tickets.threadOf(tenantId, [...(email.in_reply_to ? [email.in_reply_to] : []), ...email.references]);
        const sender = await customers.findByEmail(tenantId, email.from.email);
        if (threadTo) {
          const ticket = await tickets.get(tenantId, threadTo);
          // A Message-ID is no credential (it travels in every quoted reply): a reply joins the ticket only when
          // it comes from the ticket's requester; anyone else gets a ticket of their own.
          if (ticket && ticket.status !== 'closed' && sender && sender.id === ticket.customer_id) {
            const added = await withEmailFiles(fileDeps, tenantId, threadTo, email, (files) =>
              workflows.addMessage(
                who,
                threadTo,
                messageId,
                { body: email.text, visibility: 'public', author_type: 'customer' },
                email.message_id,
                files.map(summaryOf),
              ),
            );
            return void res.json({ ticket_id: threadTo, message_id: added.message.id, threaded: true, duplicate: false });
          }
          // A reply to a closed ticket opens a follow-up ticket, as helpdesks do.
        }

        // The files first: a refused one leaves nothing behind, not even a new customer.
        const ticketId = nameUuid(tenantId, 'ticket', email.message_id);
        const ticket = await withEmailFiles(fileDeps, tenantId, ticketId, email, async (files) => {
          const customer =
            sender ??
            (await customers
              .create(who, nameUuid(tenantId, 'customer', email.from.email.toLowerCase()), {
                name: email.from.name || email.from.email.split('@')[0]!,
                email: email.from.email.toLowerCase(),
                phone: null,
                external_id: null,
              })
              .catch(async (err: unknown) => {
                // Another email from this new sender (or an agent) created the customer meanwhile.
                const created = err instanceof DeskflowError && err.code === 'conflict' ? await customers.findByEmail(tenantId, email.from.email) : null;
                if (!created) throw err;
                return created;
              }));
          return workflows.open(
            who,
            ticketId,
            {
              subject: email.subject || '(no subject)',
              description: email.text,
              customer_id: customer.id,
              priority: 'normal',
              channel: 'email',
              assignee_id: null,
              group_id: null,
              tags: [],
            },
            { email: { messageId: email.message_id, firstMessageId: messageId }, attachments: files.map(summaryOf) },
          );
        });
        res.status(201).json({ ticket_id: ticket.id, message_id: messageId, threaded: false, duplicate: false });
      },
    },
  ];
}
