import { z } from 'zod';
import { DeskflowError } from '../../domain/errors';
import { TicketEvent } from '../../domain/events';
import { Uuid } from '../../domain/ids';
import { PageQuery } from '../../domain/pagination';
import { AddMessageInput, CreateTicketInput, Message, PatchTicketInput, Tag, Ticket, TicketPriority, TicketStatus } from '../../domain/ticket';
import type { CustomerStore } from '../customer-store';
import { decodeCursor, pageOf, TimeIdKey, VersionKey } from '../cursor';
import type { RouteSpec } from '../http/route';
import { IdParams, pageOfSchema } from '../http/schemas';
import { sendCreated } from '../idempotency';
import { etagOf, identityOf, idParam, ifMatchVersion, notModified, parseBody, parseQuery } from '../request';
import type { TicketStore } from '../ticket-store';
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
  })
  .strict();

const PageOnlyQuery = z.object(PageQuery).strict();
const MessageWithTicket = Message.extend({ ticket: Ticket });
const TimelineEvent = TicketEvent.omit({}).describe('one entry per ticket version');

export function ticketRoutes(deps: { tickets: TicketStore; customers: CustomerStore; workflows: TicketWorkflows }): RouteSpec[] {
  const { tickets, customers, workflows } = deps;
  const tag = 'Tickets';
  const location = (id: string) => `/api/v1/tickets/${id}`;

  async function ticketOr404(tenantId: string, id: string) {
    const ticket = await tickets.get(tenantId, id);
    if (!ticket) throw new DeskflowError('not_found', 'ticket not found');
    return ticket;
  }

  return [
    {
      method: 'post', path: '/api/v1/tickets', tag, summary: 'Open a ticket (starts its workflow)', auth: 'bearer', scope: 'tickets:write', idempotent: true,
      request: { body: CreateTicketInput },
      responses: { 201: { description: 'Created and persisted', body: Ticket, headers: ['Location', 'ETag'] }, 422: { description: 'Unknown customer' } },
      handler: async (req, res) => {
        const who = identityOf(req);
        const input = parseBody(CreateTicketInput, req);
        if (!(await customers.exists(who.tenantId, input.customer_id))) {
          throw new DeskflowError('unknown_customer', 'customer_id does not name a customer of this tenant');
        }
        const ticket = await workflows.open(who, req.resourceId!, input);
        await sendCreated(res, { status: 201, headers: { Location: location(ticket.id), ETag: etagOf(ticket.version) }, body: ticket });
      },
    },
    {
      method: 'get', path: '/api/v1/tickets', tag, summary: 'List tickets (newest first)', auth: 'bearer', scope: 'tickets:read',
      request: { query: ListTicketsQuery },
      responses: { 200: { description: 'A page of tickets', body: pageOfSchema(Ticket) } },
      handler: async (req, res) => {
        const q = parseQuery(ListTicketsQuery, req);
        const { cursor, ...filter } = q;
        const rows = await tickets.list(identityOf(req).tenantId, { ...filter, after: decodeCursor(cursor, TimeIdKey) });
        res.json(pageOf(rows, q.limit, (t) => [t.created_at, t.id]));
      },
    },
    {
      method: 'get', path: '/api/v1/tickets/:id', tag, summary: 'Get a ticket', auth: 'bearer', scope: 'tickets:read', conditional: ['If-None-Match'],
      request: { params: IdParams },
      responses: { 200: { description: 'The ticket', body: Ticket, headers: ['ETag'] }, 304: { description: 'Not modified' } },
      handler: async (req, res) => {
        const ticket = await ticketOr404(identityOf(req).tenantId, idParam(req, 'id'));
        const etag = etagOf(ticket.version);
        res.setHeader('ETag', etag);
        if (notModified(req, etag)) return void res.status(304).end();
        res.json(ticket);
      },
    },
    {
      method: 'patch', path: '/api/v1/tickets/:id', tag, summary: 'Change status, priority, assignee, group, tags or subject', auth: 'bearer', scope: 'tickets:write',
      conditional: ['If-Match'],
      request: { params: IdParams, body: PatchTicketInput },
      responses: {
        200: { description: 'The changed ticket', body: Ticket, headers: ['ETag'] },
        412: { description: 'Stale If-Match' },
        422: { description: 'Illegal transition, or the ticket is closed' },
      },
      handler: async (req, res) => {
        const id = idParam(req, 'id');
        const patch = parseBody(PatchTicketInput, req);
        const ticket = await workflows.patch(identityOf(req), id, patch, ifMatchVersion(req));
        res.setHeader('ETag', etagOf(ticket.version)).json(ticket);
      },
    },
    {
      method: 'post', path: '/api/v1/tickets/:id/messages', tag, summary: 'Add a public reply or an internal note', auth: 'bearer', scope: 'tickets:write', idempotent: true,
      request: { params: IdParams, body: AddMessageInput },
      responses: { 201: { description: 'Added', body: MessageWithTicket, headers: ['Location', 'ETag'] }, 422: { description: 'The ticket is closed' } },
      handler: async (req, res) => {
        const id = idParam(req, 'id');
        const input = parseBody(AddMessageInput, req);
        const { ticket, message } = await workflows.addMessage(identityOf(req), id, req.resourceId!, input);
        await sendCreated(res, {
          status: 201,
          headers: { Location: `${location(id)}/messages/${message.id}`, ETag: etagOf(ticket.version) },
          body: { ...message, ticket },
        });
      },
    },
    {
      method: 'get', path: '/api/v1/tickets/:id/messages', tag, summary: "List a ticket's messages (oldest first)", auth: 'bearer', scope: 'tickets:read',
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
      method: 'get', path: '/api/v1/tickets/:id/messages/:messageId', tag, summary: 'Get one message', auth: 'bearer', scope: 'tickets:read',
      request: { params: z.object({ id: z.uuid(), messageId: z.uuid() }) },
      responses: { 200: { description: 'The message', body: Message } },
      handler: async (req, res) => {
        const message = await tickets.message(identityOf(req).tenantId, idParam(req, 'id'), idParam(req, 'messageId'));
        if (!message) throw new DeskflowError('not_found', 'message not found');
        res.json(message);
      },
    },
    {
      method: 'get', path: '/api/v1/tickets/:id/events', tag, summary: "The ticket's timeline (one event per version)", auth: 'bearer', scope: 'tickets:read',
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
