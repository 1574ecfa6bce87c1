import { z } from 'zod';
import { DeskflowError } from '../../domain/errors';
import { TicketEvent } from '../../domain/events';
import { Uuid } from '../../domain/ids';
import { PageQuery } from '../../domain/pagination';
import {
  AddMessageInput,
  CreateTicketInput,
  Message,
  MessageVisibility,
  PatchTicketInput,
  Tag,
  Ticket,
  TicketPriority,
  TicketStatus,
} from '../../domain/ticket';
import { addMessageWithFiles, type MessageUploadDeps } from '../attachments/message-upload';
import { decodeCursor, pageOf, TimeIdKey, VersionKey } from '../cursor';
import type { RouteSpec } from '../http/route';
import { IdParams, pageOfSchema } from '../http/schemas';
import { sendCreated } from '../idempotency';
import { etagOf, identityOf, idParam, ifMatchVersion, notModified, parseBody, parseQuery } from '../request';
import type { TicketStore } from '../../stores/tickets';
import type { TicketArchiveStore } from '../../stores/ticket-archives';
import { ArchivedTicket } from '../../domain/archive';
import { archivedTicketOf } from './archive';
import type { TicketWorkflows } from '../ticket-workflows';

const StatusList = z
  .string()
  .max(200)
  .transform((s) => s.split(','))
  .pipe(z.array(TicketStatus).min(1));

const ListTicketsQuery = z
  .object({
    ...PageQuery,
    status: StatusList.optional().describe('one status or a comma-separated list'),
    priority: TicketPriority.optional(),
    assignee_id: Uuid.optional(),
    customer_id: Uuid.optional(),
    tag: Tag.optional(),
    sla: z.enum(['at_risk', 'breached']).optional(),
    sort: z.enum(['created', 'sla_due']).default('created').describe('`sla_due`: soonest SLA deadline first'),
  })
  .strict();
const DueIdKey = z.tuple([z.union([z.iso.datetime(), z.literal('infinity')]), z.uuid()]);

const SlaExplanation = z.object({
  ticket_id: z.uuid(),
  sla: Ticket.shape.sla,
  metrics: z.array(
    z.object({
      metric: z.string(),
      status: z.string(),
      due_at: z.string().nullable(),
      explanation: z.string(),
    }),
  ),
  decisions: z.array(TicketEvent),
});

const PageOnlyQuery = z.object(PageQuery).strict();
const MessageWithTicket = Message.extend({ ticket: Ticket });
const TimelineEvent = TicketEvent.omit({}).describe('one entry per ticket version');

/** One sentence per metric saying how its due time was derived. */
function explainSla(ticket: Ticket) {
  const sla = ticket.sla;
  if (!sla) return [];
  const minutes = (ms: number) => `${Math.round((ms / 60_000) * 100) / 100} min`;
  return sla.metrics.map((m) => {
    const parts = [`policy "${sla.policy_name}" v${sla.policy_version}`, `target ${minutes(m.target_ms)} of business time`];
    parts.push(`calendar ${sla.calendar_id ?? '24/7'} (${sla.time_zone})`);
    if (m.started_at) parts.push(`counting from ${m.started_at} (cycle ${m.cycle})`);
    if (m.consumed_ms) parts.push(`${minutes(m.consumed_ms)} already used`);
    if (m.paused_ms) parts.push(`paused ${minutes(m.paused_ms)} while ${sla.pause_statuses.join('/')}`);
    if (m.holidays_skipped.length) parts.push(`skipping holidays ${m.holidays_skipped.join(', ')}`);
    const state =
      m.status === 'running'
        ? `due ${m.due_at}`
        : m.status === 'paused'
          ? `paused since ${m.paused_since}`
          : m.status === 'achieved'
            ? `achieved ${m.achieved_at}`
            : 'not started';
    return { metric: m.metric, status: m.status, due_at: m.due_at, explanation: `${state}: ${parts.join('; ')}` };
  });
}

/** The multipart form of a message (OpenAPI only: the parts are validated as they stream, in api/attachments/). */
const AddMessageForm = z.object({
  body: z.string().describe('as in the JSON body'),
  visibility: MessageVisibility.optional().describe('as in the JSON body (default public)'),
  author_type: z.enum(['agent', 'customer']).optional().describe('as in the JSON body (default agent)'),
  files: z
    .array(z.string().meta({ format: 'binary' }))
    .optional()
    .describe(
      'The files (repeat the part). Each is at most ATTACHMENT_MAX_BYTES (413), at most ATTACHMENT_MAX_FILES of them (413); its type is sniffed from ' +
        'its bytes and must be in ATTACHMENT_ALLOWED_TYPES (415); plain text and CSV are taken as declared when they are UTF-8 without NUL.',
    ),
});

export function ticketRoutes(deps: {
  tickets: TicketStore;
  workflows: TicketWorkflows;
  /** An archived ticket is still found: GET answers its metadata. */
  archives: TicketArchiveStore;
  atRiskWindowMs: number;
  /** Messages with files (multipart/form-data). */
  upload: Omit<MessageUploadDeps, 'tickets' | 'workflows'>;
}): RouteSpec[] {
  const { tickets, workflows, atRiskWindowMs } = deps;
  const upload: MessageUploadDeps = { ...deps.upload, tickets, workflows };
  const tag = 'Tickets';
  const location = (id: string) => `/api/v1/tickets/${id}`;

  async function ticketOr404(tenantId: string, id: string) {
    const ticket = await tickets.get(tenantId, id);
    if (!ticket) throw new DeskflowError('not_found', 'ticket not found');
    return ticket;
  }

  return [
    {
      method: 'post',
      path: '/api/v1/tickets',
      tag,
      summary: 'Open a ticket (starts its workflow)',
      auth: 'bearer',
      scope: 'tickets:write',
      idempotent: true,
      request: { body: CreateTicketInput },
      responses: {
        201: { description: 'Created and persisted', body: Ticket, headers: ['Location', 'ETag'] },
        422: { description: 'Unknown customer, assignee or group' },
      },
      handler: async (req, res) => {
        const who = identityOf(req);
        const input = parseBody(CreateTicketInput, req);
        const facts = await tickets.openingFacts(who.tenantId, input);
        if (!facts.customerExists) throw new DeskflowError('unknown_customer', 'customer_id does not name a customer of this tenant');
        const ticket = await workflows.open(who, req.resourceId!, input, { slaPolicy: facts.policy });
        await sendCreated(res, { status: 201, headers: { Location: location(ticket.id), ETag: etagOf(ticket.version) }, body: ticket });
      },
    },
    {
      method: 'get',
      path: '/api/v1/tickets',
      tag,
      summary: 'List tickets (newest first)',
      auth: 'bearer',
      scope: 'tickets:read',
      request: { query: ListTicketsQuery },
      responses: { 200: { description: 'A page of tickets', body: pageOfSchema(Ticket) } },
      handler: async (req, res) => {
        const q = parseQuery(ListTicketsQuery, req);
        const { cursor, ...filter } = q;
        const after = q.sort === 'sla_due' ? decodeCursor(cursor, DueIdKey) : decodeCursor(cursor, TimeIdKey);
        const rows = await tickets.list(identityOf(req).tenantId, { ...filter, atRiskWindowMs, after });
        const page = pageOf(rows, q.limit, (t) => (q.sort === 'sla_due' ? [t.sort_due, t.id] : [t.created_at, t.id]));
        res.json({ ...page, data: page.data.map(({ sort_due: _omit, ...ticket }) => ticket) });
      },
    },
    {
      method: 'get',
      path: '/api/v1/tickets/:id',
      tag,
      summary: 'Get a ticket',
      auth: 'bearer',
      scope: 'tickets:read',
      conditional: ['If-None-Match'],
      request: { params: IdParams },
      responses: {
        200: {
          description:
            'The ticket; an archived one is answered with its metadata, `archived_at` and where its document is ' +
            '(`GET /api/v1/tickets/:id/archive`), until an admin restores it',
          body: z.union([Ticket, ArchivedTicket]),
          headers: ['ETag'],
        },
        304: { description: 'Not modified' },
      },
      handler: async (req, res) => {
        const who = identityOf(req);
        const id = idParam(req, 'id');
        // The hot row first (the common case costs nothing more); the archive only when there is none.
        const hot = await tickets.get(who.tenantId, id);
        const archived = hot ? null : await deps.archives.get(who.tenantId, id);
        if (!hot && archived?.state !== 'archived') throw new DeskflowError('not_found', 'ticket not found');
        const ticket = hot ?? archivedTicketOf(archived!);
        const etag = etagOf(ticket.version);
        res.setHeader('ETag', etag);
        if (notModified(req, etag)) return void res.status(304).end();
        res.json(ticket);
      },
    },
    {
      method: 'patch',
      path: '/api/v1/tickets/:id',
      tag,
      summary: 'Change status, priority, assignee, group, tags or subject',
      auth: 'bearer',
      scope: 'tickets:write',
      conditional: ['If-Match'],
      request: { params: IdParams, body: PatchTicketInput },
      responses: {
        200: { description: 'The changed ticket', body: Ticket, headers: ['ETag'] },
        412: { description: 'Stale If-Match' },
        422: { description: 'Illegal transition, the ticket is closed, or an unknown assignee or group' },
      },
      handler: async (req, res) => {
        const id = idParam(req, 'id');
        const patch = parseBody(PatchTicketInput, req);
        const who = identityOf(req);
        await tickets.checkReferences(who.tenantId, patch);
        const ticket = await workflows.patch(who, id, patch, ifMatchVersion(req));
        res.setHeader('ETag', etagOf(ticket.version)).json(ticket);
      },
    },
    {
      method: 'post',
      path: '/api/v1/tickets/:id/messages',
      tag,
      summary: 'Add a public reply or an internal note, with files (multipart/form-data) or without (JSON)',
      auth: 'bearer',
      scope: 'tickets:write',
      idempotent: true,
      request: { params: IdParams, body: AddMessageInput, multipart: AddMessageForm },
      responses: { 201: { description: 'Added', body: MessageWithTicket, headers: ['Location', 'ETag'] }, 422: { description: 'The ticket is closed' } },
      handler: async (req, res) => {
        const id = idParam(req, 'id');
        const { ticket, message } = req.is('multipart/form-data')
          ? await addMessageWithFiles(req, id, upload)
          : await workflows.addMessage(identityOf(req), id, req.resourceId!, parseBody(AddMessageInput, req));
        await sendCreated(res, {
          status: 201,
          headers: { Location: `${location(id)}/messages/${message.id}`, ETag: etagOf(ticket.version) },
          body: { ...message, ticket },
        });
      },
    },
    {
      method: 'get',
      path: '/api/v1/tickets/:id/messages',
      tag,
      summary: "List a ticket's messages (oldest first)",
      auth: 'bearer',
      scope: 'tickets:read',
      request: { params: IdParams, query: PageOnlyQuery },
      responses: { 200: { description: 'A page of messages', body: pageOfSchema(Message) } },
      handler: async (req, res) => {
        const who = identityOf(req);
        const id = idParam(req, 'id');
        const q = parseQuery(PageOnlyQuery, req);
        await ticketOr404(who.tenantId, id);
        const rows = await tickets.messages(who.tenantId, id, q.limit, decodeCursor(q.cursor, TimeIdKey));
        res.json(pageOf(rows, q.limit, (m) => [m.created_at, m.id]));
      },
    },
    {
      method: 'get',
      path: '/api/v1/tickets/:id/messages/:messageId',
      tag,
      summary: 'Get one message',
      auth: 'bearer',
      scope: 'tickets:read',
      request: { params: z.object({ id: z.uuid(), messageId: z.uuid() }) },
      responses: { 200: { description: 'The message', body: Message } },
      handler: async (req, res) => {
        const message = await tickets.message(identityOf(req).tenantId, idParam(req, 'id'), idParam(req, 'messageId'));
        if (!message) throw new DeskflowError('not_found', 'message not found');
        res.json(message);
      },
    },
    {
      method: 'get',
      path: '/api/v1/tickets/:id/sla',
      tag: 'SLA',
      summary: 'How each SLA deadline of the ticket was derived',
      auth: 'bearer',
      scope: 'tickets:read',
      request: { params: IdParams },
      responses: { 200: { description: 'The SLA state, a plain-language explanation per metric, and every SLA decision', body: SlaExplanation } },
      handler: async (req, res) => {
        const who = identityOf(req);
        const ticket = await ticketOr404(who.tenantId, idParam(req, 'id'));
        const decisions = await tickets.events(who.tenantId, ticket.id, 100, 0, 'sla.');
        res.json({ ticket_id: ticket.id, sla: ticket.sla, metrics: explainSla(ticket), decisions });
      },
    },
    {
      method: 'post',
      path: '/api/v1/tickets/:id/sla/ack',
      tag: 'SLA',
      summary: 'Acknowledge the escalation: the ladder stops climbing for this cycle',
      auth: 'bearer',
      scope: 'tickets:write',
      request: { params: IdParams },
      responses: { 200: { description: 'The ticket', body: Ticket, headers: ['ETag'] }, 422: { description: 'No SLA applies, or the ticket is closed' } },
      handler: async (req, res) => {
        const ticket = await workflows.acknowledgeSla(identityOf(req), idParam(req, 'id'));
        res.setHeader('ETag', etagOf(ticket.version)).json(ticket);
      },
    },
    {
      method: 'get',
      path: '/api/v1/tickets/:id/events',
      tag,
      summary: "The ticket's timeline (one event per version)",
      auth: 'bearer',
      scope: 'tickets:read',
      request: { params: IdParams, query: PageOnlyQuery },
      responses: { 200: { description: 'A page of events', body: pageOfSchema(TimelineEvent) } },
      handler: async (req, res) => {
        const who = identityOf(req);
        const id = idParam(req, 'id');
        const q = parseQuery(PageOnlyQuery, req);
        await ticketOr404(who.tenantId, id);
        const after = decodeCursor(q.cursor, VersionKey);
        const rows = await tickets.events(who.tenantId, id, q.limit, after?.[0]);
        res.json(pageOf(rows, q.limit, (e) => [e.version]));
      },
    },
  ];
}
