import { type RequestHandler, Router } from 'express';
import { z } from 'zod';
import { DeskflowError } from '../../domain/errors';
import { Uuid } from '../../domain/ids';
import { PageQuery } from '../../domain/pagination';
import { AddMessageInput, CreateTicketInput, PatchTicketInput, Tag, TicketPriority, TicketStatus } from '../../domain/ticket';
import type { CustomerStore } from '../customer-store';
import { decodeCursor, pageOf, TimeIdKey, VersionKey } from '../cursor';
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
    status: StatusList.optional(),
    priority: TicketPriority.optional(),
    assignee_id: Uuid.optional(),
    customer_id: Uuid.optional(),
    tag: Tag.optional(),
  })
  .strict();

const PageOnlyQuery = z.object(PageQuery).strict();

export function ticketRoutes(deps: {
  tickets: TicketStore;
  customers: CustomerStore;
  workflows: TicketWorkflows;
  idempotent: RequestHandler;
}): Router {
  const { tickets, customers, workflows, idempotent } = deps;
  const router = Router();
  const location = (id: string) => `/api/v1/tickets/${id}`;

  async function ticketOr404(tenantId: string, id: string) {
    const ticket = await tickets.get(tenantId, id);
    if (!ticket) throw new DeskflowError('not_found', 'ticket not found');
    return ticket;
  }

  router.post('/', idempotent, async (req, res) => {
    const who = identityOf(req);
    const input = parseBody(CreateTicketInput, req);
    if (!(await customers.exists(who.tenantId, input.customer_id))) {
      throw new DeskflowError('unknown_customer', 'customer_id does not name a customer of this tenant');
    }
    const ticket = await workflows.open(who, req.resourceId!, input);
    await sendCreated(res, { status: 201, headers: { Location: location(ticket.id), ETag: etagOf(ticket.version) }, body: ticket });
  });

  router.get('/', async (req, res) => {
    const q = parseQuery(ListTicketsQuery, req);
    const { cursor, ...filter } = q;
    const rows = await tickets.list(identityOf(req).tenantId, { ...filter, after: decodeCursor(cursor, TimeIdKey) });
    res.json(pageOf(rows, q.limit, (t) => [t.created_at, t.id]));
  });

  router.get('/:id', async (req, res) => {
    const ticket = await ticketOr404(identityOf(req).tenantId, idParam(req, 'id'));
    const etag = etagOf(ticket.version);
    res.setHeader('ETag', etag);
    if (notModified(req, etag)) return void res.status(304).end();
    res.json(ticket);
  });

  router.patch('/:id', async (req, res) => {
    const id = idParam(req, 'id');
    const patch = parseBody(PatchTicketInput, req);
    const ticket = await workflows.patch(identityOf(req), id, patch, ifMatchVersion(req));
    res.setHeader('ETag', etagOf(ticket.version)).json(ticket);
  });

  router.post('/:id/messages', idempotent, async (req, res) => {
    const id = idParam(req, 'id');
    const input = parseBody(AddMessageInput, req);
    const { ticket, message } = await workflows.addMessage(identityOf(req), id, req.resourceId!, input);
    await sendCreated(res, {
      status: 201,
      headers: { Location: `${location(id)}/messages/${message.id}`, ETag: etagOf(ticket.version) },
      body: { ...message, ticket },
    });
  });

  router.get('/:id/messages', async (req, res) => {
    const who = identityOf(req);
    const id = idParam(req, 'id');
    const q = parseQuery(PageOnlyQuery, req);
    await ticketOr404(who.tenantId, id);
    const rows = await tickets.messages(who.tenantId, id, q.limit, decodeCursor(q.cursor, TimeIdKey));
    res.json(pageOf(rows, q.limit, (m) => [m.created_at, m.id]));
  });

  router.get('/:id/messages/:messageId', async (req, res) => {
    const message = await tickets.message(identityOf(req).tenantId, idParam(req, 'id'), idParam(req, 'messageId'));
    if (!message) throw new DeskflowError('not_found', 'message not found');
    res.json(message);
  });

  router.get('/:id/events', async (req, res) => {
    const who = identityOf(req);
    const id = idParam(req, 'id');
    const q = parseQuery(PageOnlyQuery, req);
    await ticketOr404(who.tenantId, id);
    const after = decodeCursor(q.cursor, VersionKey);
    const rows = await tickets.events(who.tenantId, id, q.limit, after?.[0]);
    res.json(pageOf(rows, q.limit, (e) => [e.version]));
  });

  return router;
}
