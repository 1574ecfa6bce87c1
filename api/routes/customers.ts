import { z } from 'zod';
import { Text } from '../../domain/text';
import { CreateCustomerInput, Customer, CustomerErasure, PatchCustomerInput } from '../../domain/customer';
import { DeskflowError } from '../../domain/errors';
import { PageQuery } from '../../domain/pagination';
import type { CustomerErasureStore } from '../../stores/customer-erasure';
import type { CustomerStore } from '../../stores/customers';
import { decodeCursor, pageOf, TimeIdKey } from '../cursor';
import type { RouteSpec } from '../http/route';
import { IdParams, pageOfSchema } from '../http/schemas';
import { sendCreated } from '../idempotency';
import { etagOf, identityOf, idParam, ifMatchVersion, notModified, parseBody, parseQuery } from '../request';

const ListCustomersQuery = z.object({ ...PageQuery, email: Text.max(254).optional() }).strict();

export function customerRoutes(customers: CustomerStore, erasure: CustomerErasureStore): RouteSpec[] {
  const tag = 'Customers';
  return [
    {
      method: 'post',
      path: '/api/v1/customers',
      tag,
      summary: 'Create a customer',
      auth: 'bearer',
      scope: 'customers:write',
      idempotent: true,
      request: { body: CreateCustomerInput },
      responses: { 201: { description: 'Created', body: Customer, headers: ['Location', 'ETag'] }, 409: { description: 'Email or external id taken' } },
      handler: async (req, res) => {
        const input = parseBody(CreateCustomerInput, req);
        const customer = await customers.create(identityOf(req), req.resourceId!, input, req.requestId);
        await sendCreated(res, { status: 201, headers: { Location: `/api/v1/customers/${customer.id}`, ETag: etagOf(customer.version) }, body: customer });
      },
    },
    {
      method: 'get',
      path: '/api/v1/customers',
      tag,
      summary: 'List customers (newest first; `email` finds one by exact address)',
      auth: 'bearer',
      scope: 'customers:read',
      request: { query: ListCustomersQuery },
      responses: { 200: { description: 'A page of customers', body: pageOfSchema(Customer) } },
      handler: async (req, res) => {
        const q = parseQuery(ListCustomersQuery, req);
        const rows = await customers.list(identityOf(req).tenantId, q.limit, decodeCursor(q.cursor, TimeIdKey), q.email);
        res.json(pageOf(rows, q.limit, (c) => [c.created_at, c.id]));
      },
    },
    {
      method: 'get',
      path: '/api/v1/customers/:id',
      tag,
      summary: 'Get a customer',
      auth: 'bearer',
      scope: 'customers:read',
      conditional: ['If-None-Match'],
      request: { params: IdParams },
      responses: { 200: { description: 'The customer', body: Customer, headers: ['ETag'] }, 304: { description: 'Not modified' } },
      handler: async (req, res) => {
        const customer = await customers.get(identityOf(req).tenantId, idParam(req, 'id'));
        if (!customer) throw new DeskflowError('not_found', 'customer not found');
        const etag = etagOf(customer.version);
        res.setHeader('ETag', etag);
        if (notModified(req, etag)) return void res.status(304).end();
        res.json(customer);
      },
    },
    {
      method: 'patch',
      path: '/api/v1/customers/:id',
      tag,
      summary: 'Change a customer',
      auth: 'bearer',
      scope: 'customers:write',
      conditional: ['If-Match'],
      request: { params: IdParams, body: PatchCustomerInput },
      responses: {
        200: { description: 'The changed customer', body: Customer, headers: ['ETag'] },
        409: { description: 'Email or external id taken' },
        412: { description: 'Stale If-Match' },
      },
      handler: async (req, res) => {
        const id = idParam(req, 'id');
        const patch = parseBody(PatchCustomerInput, req);
        const customer = await customers.patch(identityOf(req), id, patch, ifMatchVersion(req), req.requestId);
        res.setHeader('ETag', etagOf(customer.version)).json(customer);
      },
    },
    {
      method: 'post',
      path: '/api/v1/customers/:id/erase',
      tag,
      summary:
        "Erase a customer's personal data (GDPR): their record, what they wrote on their (closed) tickets, their files, and their identifiers wherever else they appear, archived tickets' documents and files included; audited",
      auth: 'bearer',
      // Admins (and keys given this scope): an erasure cannot be undone.
      scope: 'tenant:manage',
      request: { params: IdParams },
      responses: {
        200: { description: 'Erased (or erased before: `already_erased`)', body: CustomerErasure },
        409: {
          description:
            'The customer has tickets that are not closed, or a legal hold keeps one of their tickets (hot or archived: GDPR art. 17(3)(e) lets the hold win); nothing was changed',
        },
      },
      handler: async (req, res) => {
        res.json(await erasure.erase(identityOf(req), idParam(req, 'id'), req.requestId));
      },
    },
  ];
}
