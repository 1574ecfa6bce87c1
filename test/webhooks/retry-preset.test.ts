/**
 * A tenant's webhook retry preset (`standard` | `extended`), set over PATCH /api/v1/tenant, decides when its
 * failed deliveries are tried again: checked on the real worker against an always-failing loopback receiver.
 */
import { createTenant, http, startStack, type Tenant, type TestStack } from '../support/stack';
import { type Receiver, eventually, seedDelivery, seedEndpoint, startReceiver } from './support';

let stack: TestStack;
let patient: Tenant;
let hasty: Tenant;
let failing: Receiver;

beforeAll(async () => {
  stack = await startStack();
  patient = await createTenant(stack, 'Patient');
  hasty = await createTenant(stack, 'Hasty');
  failing = await startReceiver(() => ({ status: 503 }));
});
afterAll(async () => {
  await failing?.close();
  await stack?.close();
});

it('the preset is a tenant setting: shown, changed by an admin, audited; anything else is refused and changes nothing', async () => {
  const before = await http(stack, 'GET', '/api/v1/tenant', { headers: patient.admin.headers });
  expect(before.status).toBe(200);
  expect(before.body.webhook_retry_schedule).toBe('standard');

  for (const bad of ['weekly', '', null, 3, 'EXTENDED']) {
    const refused = await http(stack, 'PATCH', '/api/v1/tenant', { headers: patient.admin.headers, body: { webhook_retry_schedule: bad } });
    expect(refused.status).toBe(400);
    expect(refused.headers.get('content-type')).toContain('application/problem+json');
  }
  const agent = await http(stack, 'PATCH', '/api/v1/tenant', { headers: patient.headers, body: { webhook_retry_schedule: 'extended' } });
  expect(agent.status).toBe(403);
  expect((await http(stack, 'GET', '/api/v1/tenant', { headers: patient.admin.headers })).body.webhook_retry_schedule).toBe('standard');

  const changed = await http(stack, 'PATCH', '/api/v1/tenant', { headers: patient.admin.headers, body: { webhook_retry_schedule: 'extended' } });
  expect(changed.status).toBe(200);
  expect(changed.body.webhook_retry_schedule).toBe('extended');
  const audit = await stack.admin.query(`SELECT before, after FROM audit_log WHERE tenant_id = $1 AND action = 'tenant.updated' ORDER BY seq DESC LIMIT 1`, [
    patient.id,
  ]);
  expect(audit.rows[0]).toMatchObject({ before: { webhook_retry_schedule: 'standard' }, after: { webhook_retry_schedule: 'extended' } });
});

/** The wait the worker scheduled after the first failed attempt, in ms. */
async function firstRetryDelay(tenant: Tenant): Promise<number> {
  const endpoint = await seedEndpoint(stack, tenant.id, failing.url);
  const d = await seedDelivery(stack, tenant.id, endpoint.id);
  const row = await eventually(
    async () =>
      (
        await stack.admin.query(
          `SELECT d.attempts, extract(epoch FROM d.next_attempt_at - a.attempted_at) * 1000 AS delay_ms
           FROM webhook_deliveries d JOIN webhook_attempts a ON a.delivery_id = d.id WHERE d.id = $1 ORDER BY a.attempted_at LIMIT 1`,
          [d.id],
        )
      ).rows[0],
    (r) => r !== undefined && r.attempts >= 1,
    15_000,
  );
  expect(row?.attempts).toBe(1);
  return Number(row.delay_ms);
}

it("each tenant's failed deliveries follow its own preset: extended waits 5 s (+ jitter) before the first retry, standard 1 s", async () => {
  const set = await http(stack, 'PATCH', '/api/v1/tenant', { headers: patient.admin.headers, body: { webhook_retry_schedule: 'extended' } });
  expect(set.status).toBe(200);
  const extended = await firstRetryDelay(patient);
  expect(extended).toBeGreaterThanOrEqual(5000 - 50);
  expect(extended).toBeLessThanOrEqual(5000 * 1.25 + 500);
  const standard = await firstRetryDelay(hasty);
  expect(standard).toBeGreaterThanOrEqual(1000 - 50);
  expect(standard).toBeLessThanOrEqual(1000 * 1.25 + 500);
});
