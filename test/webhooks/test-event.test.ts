/**
 * `POST /api/v1/webhook-endpoints/:id/test` through the real worker's dispatcher to loopback receivers: the
 * `webhook.test` event reaches that one endpoint only, signed (verified with `standardwebhooks` and node:crypto),
 * with the catalog's payload; it is logged like any delivery, audited, kept out of the change feed; a retried
 * request (same Idempotency-Key) sends nothing twice; a disabled endpoint is a 409, a deleted one a 404, and an
 * endpoint takes ten tests a minute.
 */
import { Webhook } from 'standardwebhooks';
import { WEBHOOK_EVENTS } from '../../domain/webhooks';
import { createTenant, http, startStack, type Tenant, type TestStack } from '../support/stack';
import { deliveryRow, eventually, type Receiver, startReceiver, verifies } from './support';

let stack: TestStack;
let acme: Tenant;
let globex: Tenant;
const receivers: Receiver[] = [];

beforeAll(async () => {
  stack = await startStack();
  acme = await createTenant(stack, 'Acme');
  globex = await createTenant(stack, 'Globex');
});
afterAll(async () => {
  await Promise.all(receivers.map((r) => r.close()));
  await stack.close();
});

async function endpointFor(tenant: Tenant, body: Record<string, unknown> = {}) {
  const r = await startReceiver(() => ({ status: 200 }));
  receivers.push(r);
  const res = await http(stack, 'POST', '/api/v1/webhook-endpoints', { headers: tenant.admin.headers, body: { url: r.url, ...body } });
  expect(res.status).toBe(201);
  r.secrets = [res.body.secret];
  return { id: res.body.id as string, secret: res.body.secret as string, receiver: r };
}

const sendTest = (tenant: Tenant, endpointId: string, headers: Record<string, string> = {}) =>
  http(stack, 'POST', `/api/v1/webhook-endpoints/${endpointId}/test`, { headers: { ...tenant.admin.headers, ...headers } });

const testEvents = async (tenantId: string) =>
  (await stack.admin.query<{ n: number }>("SELECT count(*)::int AS n FROM webhook_events WHERE tenant_id = $1 AND type = 'webhook.test'", [tenantId])).rows[0]!
    .n;

it('sends a signed webhook.test event to that endpoint only, logged, audited and not in the change feed', async () => {
  // Subscribed to another type: a test is addressed to the endpoint, whatever it subscribes to.
  const target = await endpointFor(acme, { event_types: ['ticket.created'] });
  const bystander = await endpointFor(acme); // every event type
  const otherTenant = await endpointFor(globex);

  const res = await sendTest(acme, target.id);
  expect(res.status).toBe(202);
  expect(res.body).toMatchObject({ endpoint_id: target.id, event_type: 'webhook.test', webhook_id: `msg_${res.body.id}`, ticket_id: null });
  expect(['pending', 'delivered']).toContain(res.body.status);
  expect(res.headers.get('location')).toBe(`/api/v1/webhook-deliveries/${res.body.id}`);

  const got = await eventually(
    () => target.receiver.received,
    (r) => r.length >= 1,
  );
  expect(got).toHaveLength(1);
  const request = got[0]!;
  expect(request.headers['webhook-id']).toBe(`msg_${res.body.id}`);
  const verified = new Webhook(target.secret).verify(request.body, request.headers as Record<string, string>) as { type: string; data: unknown };
  expect(verified.type).toBe('webhook.test');
  expect(WEBHOOK_EVENTS['webhook.test'].payload.parse(verified.data)).toEqual({ endpoint_id: target.id, message: expect.any(String) });
  expect(verifies(target.secret, request.headers, request.body)).toBe(true);
  expect(target.receiver.problems).toEqual([]);

  // The delivery log shows it delivered, with its attempt.
  expect(
    await eventually(
      () => deliveryRow(stack, res.body.id),
      (row) => row.status === 'delivered',
    ),
  ).toMatchObject({ status: 'delivered', attempts: 1 });
  const logged = await http(stack, 'GET', res.headers.get('location')!, { headers: acme.admin.headers });
  expect(logged.status).toBe(200);
  expect(logged.body).toMatchObject({ id: res.body.id, status: 'delivered', attempt_count: 1, attempts: [{ status_code: 200 }] });
  const listed = await http(stack, 'GET', `/api/v1/webhook-endpoints/${target.id}/deliveries?event_type=webhook.test`, { headers: acme.admin.headers });
  expect(listed.body.data.map((d: { id: string }) => d.id)).toEqual([res.body.id]);

  // Nobody else: no other endpoint of the tenant, nothing in another tenant.
  const bystanderDeliveries = await http(stack, 'GET', `/api/v1/webhook-endpoints/${bystander.id}/deliveries`, { headers: acme.admin.headers });
  expect(bystanderDeliveries.body.data).toEqual([]);
  expect(bystander.receiver.received).toEqual([]);
  expect(otherTenant.receiver.received).toEqual([]);

  // Not a change of the tenant's: the feed leaves it out.
  const feed = await http(stack, 'GET', '/api/v1/events?include_internal=true', { headers: acme.admin.headers });
  expect(feed.status).toBe(200);
  expect(feed.body.data.filter((e: { type: string }) => e.type === 'webhook.test')).toEqual([]);
  expect(await testEvents(acme.id)).toBe(1);

  const audit = await stack.admin.query("SELECT actor_id, entity_id, after FROM audit_log WHERE tenant_id = $1 AND action = 'webhook_endpoint.test_sent'", [
    acme.id,
  ]);
  expect(audit.rows).toEqual([{ actor_id: acme.admin.id, entity_id: target.id, after: { delivery_id: res.body.id } }]);
});

it('a retried request with the same Idempotency-Key sends nothing twice', async () => {
  const target = await endpointFor(acme);
  const before = await testEvents(acme.id);
  const first = await sendTest(acme, target.id, { 'Idempotency-Key': 'test-once' });
  const again = await sendTest(acme, target.id, { 'Idempotency-Key': 'test-once' });
  expect([first.status, again.status]).toEqual([202, 202]);
  expect(again.body.id).toBe(first.body.id);
  expect(await testEvents(acme.id)).toBe(before + 1);
  await eventually(
    () => deliveryRow(stack, first.body.id),
    (row) => row.status === 'delivered',
  );
  expect(target.receiver.received).toHaveLength(1);
});

it('a disabled endpoint is a 409 and a deleted one a 404; nothing is written for either', async () => {
  const target = await endpointFor(acme);
  const before = await testEvents(acme.id);
  const paused = await http(stack, 'PATCH', `/api/v1/webhook-endpoints/${target.id}`, { headers: acme.admin.headers, body: { enabled: false } });
  expect(paused.status).toBe(200);
  const refused = await sendTest(acme, target.id);
  expect({ status: refused.status, code: refused.body.code }).toEqual({ status: 409, code: 'conflict' });
  expect(refused.body.detail).toContain('disabled by an admin');

  expect((await http(stack, 'DELETE', `/api/v1/webhook-endpoints/${target.id}`, { headers: acme.admin.headers })).status).toBe(204);
  const gone = await sendTest(acme, target.id);
  expect({ status: gone.status, code: gone.body.code }).toEqual({ status: 404, code: 'not_found' });

  // Another tenant's endpoint is not found either.
  const theirs = await endpointFor(globex);
  expect((await sendTest(acme, theirs.id)).status).toBe(404);

  expect(await testEvents(acme.id)).toBe(before);
  expect(await testEvents(globex.id)).toBe(0);
  expect(target.receiver.received).toEqual([]);
});

it('an endpoint takes ten tests a minute; the eleventh is a 429 with Retry-After and writes nothing', async () => {
  const target = await endpointFor(acme);
  const other = await endpointFor(acme);
  for (let i = 0; i < 10; i++) expect((await sendTest(acme, target.id)).status).toBe(202);
  const before = await testEvents(acme.id);
  const limited = await sendTest(acme, target.id);
  expect({ status: limited.status, code: limited.body.code }).toEqual({ status: 429, code: 'rate_limited' });
  expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
  expect(limited.headers.get('ratelimit-policy')).toContain('"webhook-test";q=10;w=60');
  expect(await testEvents(acme.id)).toBe(before);
  // The budget is the endpoint's: another endpoint of the tenant is still tested.
  expect((await sendTest(acme, other.id)).status).toBe(202);
});
