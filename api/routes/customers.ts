import { Router } from 'express';
import { z } from 'zod';
import { CreateCustomerInput, PatchCustomerInput } from '../../domain/customer';
import { DeskflowError } from '../../domain/errors';
import { PageQuery } from '../../domain/pagination';
import type { CustomerStore } from '../customer-store';
import { decodeCursor, pageOf, TimeIdKey } from '../cursor';
import { sendCreated } from '../idempotency';
import { etagOf, identityOf, idParam, ifMatchVersion, notModified, parseBody, parseQuery } from '../request';
import type { RequestHandler } from 'express';

const ListCustomersQuery = z.object({ ...PageQuery, email: z.string().max(254).optional() }).strict();

export function customerRoutes(customers: CustomerStore, idempotent: RequestHandler): Router {
  const router = Router();

  router.post('/', idempotent, async (req, res) => {
    const input = parseBody(CreateCustomerInput, req);
    const customer = await customers.create(identityOf(req).tenantId, req.resourceId!, input);
    await sendCreated(res, {
      status: 201,
      headers: { Location: `/api/v1/customers/${customer.id}`, ETag: etagOf(customer.version) },
      body: customer,
    });
  });

  router.get('/', async (req, res) => {
    const q = parseQuery(ListCustomersQuery, req);
    const rows = await customers.list(identityOf(req).tenantId, q.limit, decodeCursor(q.cursor, TimeIdKey), q.email);
    res.json(pageOf(rows, q.limit, (c) => [c.created_at, c.id]));
  });

  router.get('/:id', async (req, res) => {
    const customer = await customers.get(identityOf(req).tenantId, idParam(req, 'id'));
    if (!customer) throw new DeskflowError('not_found', 'customer not found');
    const etag = etagOf(customer.version);
    res.setHeader('ETag', etag);
    if (notModified(req, etag)) return void res.status(304).end();
    res.json(customer);
  });

  router.patch('/:id', async (req, res) => {
    const id = idParam(req, 'id');
    const patch = parseBody(PatchCustomerInput, req);
    const customer = await customers.patch(identityOf(req).tenantId, id, patch, ifMatchVersion(req));
    res.setHeader('ETag', etagOf(customer.version)).json(customer);
  });

  return router;
}
