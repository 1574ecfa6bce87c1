/** Pausing an endpoint queues its deliveries (held) and loses nothing: resuming releases them. */
import { createTenant, http, startStack, type Tenant, type TestStack } from '../support/stack';

let stack: TestStack;
let tenant: Tenant;

beforeAll(async () => {
  stack = await startStack();
  tenant = await createTenant(stack, 'Paused');
});
afterAll(() => stack?.close());

it('a paused endpoint holds its deliveries; resuming releases every one of them', async () => {
  const endpoint = await http(stack, 'POST', '/api/v1/webhook-endpoints', {
    headers: tenant.admin.headers,
    body: { url: 'http://127.0.0.1:9/hooks', enabled: false, event_types: ['ticket.created'] },
  });
  expect(endpoint.status).toBe(201);
  for (let i = 0; i < 3; i++) {
    const t = await http(stack, 'POST', '/api/v1/tickets', {
      headers: tenant.headers,
      body: { subject: `Held ${i}`, description: 'While paused.', customer_id: tenant.customerId },
    });
    expect(t.status).toBe(201);
  }
  const statuses = async () =>
    (await stack.admin.query<{ status: string }>('SELECT status FROM webhook_deliveries WHERE endpoint_id = $1', [endpoint.body.id])).rows.map((r) => r.status);
  expect(await statuses()).toEqual(['held', 'held', 'held']);

  const resumed = await http(stack, 'PATCH', `/api/v1/webhook-endpoints/${endpoint.body.id}`, { headers: tenant.admin.headers, body: { enabled: true } });
  expect(resumed.status).toBe(200);
  const after = await statuses();
  expect(after).toHaveLength(3);
  expect(after.filter((s) => s === 'held')).toEqual([]);
});
