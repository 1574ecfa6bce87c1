/**
 * Temporal unreachable: every write that goes through a workflow answers 503 service_unavailable
 * (never a 500), changes nothing, and reads keep working from PostgreSQL.
 */
import { createTenant, http, startApiWithTemporalDown, startStack, type Tenant, type TestStack } from '../support/stack';

let stack: TestStack;
let tenant: Tenant;
let down: { url: string; close(): Promise<void> };
let ticketId: string;

beforeAll(async () => {
  stack = await startStack();
  tenant = await createTenant(stack, 'Outage');
  const created = await http(stack, 'POST', '/api/v1/tickets', {
    headers: tenant.headers,
    body: { subject: 'Before the outage', description: 'Created while Temporal was up.', customer_id: tenant.customerId },
  });
  expect(created.status).toBe(201);
  ticketId = created.body.id;
  down = await startApiWithTemporalDown(stack);
});
afterAll(async () => {
  await down?.close();
  await stack?.close();
});

it.each([
  ['create a ticket', 'POST', () => '/api/v1/tickets', () => ({ subject: 'During', description: 'Temporal is down.', customer_id: tenant.customerId })],
  ['change a ticket', 'PATCH', () => `/api/v1/tickets/${ticketId}`, () => ({ priority: 'high' })],
  ['add a message', 'POST', () => `/api/v1/tickets/${ticketId}/messages`, () => ({ body: 'Anyone there?' })],
  ['acknowledge its SLA', 'POST', () => `/api/v1/tickets/${ticketId}/sla/ack`, () => undefined],
])('%s → 503 service_unavailable, nothing changed', async (_what, method, path, body) => {
  const before = await stack.admin.query('SELECT count(*)::int AS n, sum(version)::int AS v FROM tickets WHERE tenant_id = $1', [tenant.id]);
  const res = await http(down, method, path(), { headers: tenant.headers, body: body() });
  expect({ status: res.status, code: res.body.code }).toEqual({ status: 503, code: 'service_unavailable' });
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const after = await stack.admin.query('SELECT count(*)::int AS n, sum(version)::int AS v FROM tickets WHERE tenant_id = $1', [tenant.id]);
  expect(after.rows[0]).toEqual(before.rows[0]);
});

it('reads still answer from PostgreSQL, and readiness names Temporal', async () => {
  const read = await http(down, 'GET', `/api/v1/tickets/${ticketId}`, { headers: tenant.headers });
  expect(read.status).toBe(200);
  const ready = await http(down, 'GET', '/readyz');
  expect(ready.status).toBe(503);
  expect(ready.body.checks.temporal).not.toBe('ok');
});
