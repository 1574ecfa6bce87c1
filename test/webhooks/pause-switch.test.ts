/**
 * The incident switches: webhook delivery paused for one tenant (PATCH /api/v1/tenant, audited) or for every tenant
 * (`npm run admin -- webhooks-pause`). While paused nothing is sent and nothing is dropped; lifting the pause sends
 * every delivery it held back, at once. An isolated stack: the global switch must not pause other suites' webhooks.
 */
import { type IsolatedStack, startIsolatedStack } from '../support/isolated-stack';
import { runAdmin } from '../support/processes';
import { createTenant, http, type Tenant } from '../support/stack';
import { eventually, type Receiver, seedEndpoint, startReceiver } from './support';

jest.setTimeout(120_000);

let isolated: IsolatedStack;
let a: Tenant;
let b: Tenant;
let receiverA: Receiver;
let receiverB: Receiver;

beforeAll(async () => {
  isolated = await startIsolatedStack('pause');
  a = await createTenant(isolated.stack, 'PausedA');
  b = await createTenant(isolated.stack, 'PausedB');
  receiverA = await startReceiver();
  receiverB = await startReceiver();
  await seedEndpoint(isolated.stack, a.id, receiverA.url);
  await seedEndpoint(isolated.stack, b.id, receiverB.url);
});
afterAll(async () => {
  await Promise.allSettled([receiverA?.close(), receiverB?.close()]);
  await isolated?.close();
});

const create = async (tenant: Tenant, subject: string) => {
  const res = await http(isolated.api, 'POST', '/api/v1/tickets', {
    headers: tenant.headers,
    body: { subject, description: 'While paused.', customer_id: tenant.customerId },
  });
  expect(res.status).toBe(201);
  return res.body.id as string;
};
const pendingOf = async (tenantId: string) =>
  Number((await isolated.stack.admin.query("SELECT count(*) FROM webhook_deliveries WHERE tenant_id = $1 AND status = 'pending'", [tenantId])).rows[0].count);
const admin = (...args: string[]) => runAdmin(args, isolated.env);

test('a paused tenant keeps its deliveries pending while others deliver; resuming sends them at once', async () => {
  const pause = await http(isolated.api, 'PATCH', '/api/v1/tenant', { headers: a.admin.headers, body: { webhooks_paused: true } });
  expect(pause.status).toBe(200);
  expect(pause.body.webhooks_paused_at).toEqual(expect.any(String));
  // Agents may not flip it.
  expect((await http(isolated.api, 'PATCH', '/api/v1/tenant', { headers: a.headers, body: { webhooks_paused: false } })).status).toBe(403);
  expect((await http(isolated.api, 'PATCH', '/api/v1/tenant', { headers: a.admin.headers, body: { webhooks_paused: 'no' } })).status).toBe(400);

  await create(a, 'Held A');
  await create(b, 'Sent B');
  await eventually(
    () => receiverB.received.length,
    (n) => n >= 1,
  );
  expect(receiverB.received.length).toBeGreaterThanOrEqual(1);
  await new Promise((r) => setTimeout(r, 1500)); // several dispatch rounds
  expect(receiverA.received).toHaveLength(0);
  expect(await pendingOf(a.id)).toBeGreaterThanOrEqual(1);

  const resumedAt = Date.now();
  const resume = await http(isolated.api, 'PATCH', '/api/v1/tenant', { headers: a.admin.headers, body: { webhooks_paused: false } });
  expect(resume.body.webhooks_paused_at).toBeNull();
  await eventually(
    () => receiverA.received.length,
    (n) => n >= 1,
    10_000,
  );
  expect(receiverA.received.length).toBeGreaterThanOrEqual(1);
  // At once, not at the parked deliveries' next look a minute later.
  expect(receiverA.received[0]!.at - resumedAt).toBeLessThan(5000);
  // The receiver has the request before the worker has recorded its answer: wait for the record.
  expect(
    await eventually(
      () => pendingOf(a.id),
      (n) => n === 0,
      10_000,
    ),
  ).toBe(0);

  const audit = await isolated.stack.admin.query("SELECT after FROM audit_log WHERE tenant_id = $1 AND action = 'tenant.updated' ORDER BY seq", [a.id]);
  expect(audit.rows.map((r) => r.after.webhooks_paused)).toEqual([true, false]);
});

test('the global switch pauses every tenant until lifted, and loses nothing', async () => {
  const paused = await admin('webhooks-pause', '--reason', 'receiver incident');
  expect(paused.err).toBe('');
  expect(paused.code).toBe(0);
  expect(JSON.parse(paused.out)).toMatchObject({ scope: 'all tenants', reason: 'receiver incident' });
  const [beforeA, beforeB] = [receiverA.received.length, receiverB.received.length];
  await create(a, 'Global A');
  await create(b, 'Global B');
  await new Promise((r) => setTimeout(r, 1500));
  expect(receiverA.received.length).toBe(beforeA);
  expect(receiverB.received.length).toBe(beforeB);

  const resumed = await admin('webhooks-resume');
  expect(resumed.code).toBe(0);
  expect(JSON.parse(resumed.out).released).toBeGreaterThanOrEqual(2);
  await eventually(
    () => [receiverA.received.length, receiverB.received.length],
    ([x, y]) => x! > beforeA && y! > beforeB,
    10_000,
  );
  expect(receiverA.received.length).toBeGreaterThan(beforeA);
  expect(receiverB.received.length).toBeGreaterThan(beforeB);
  // As in the test above: the receivers have the requests before the worker has recorded their answers.
  expect(
    await eventually(
      async () => [await pendingOf(a.id), await pendingOf(b.id)],
      ([x, y]) => x === 0 && y === 0,
      10_000,
    ),
  ).toEqual([0, 0]);
  // Each event delivered once per endpoint: nothing sent twice by the pause and release.
  const ids = [...receiverA.received, ...receiverB.received].map((r) => r.headers['webhook-id']);
  expect(new Set(ids).size).toBe(ids.length);
});

test('the admin CLI pauses one tenant by id and refuses an unknown one', async () => {
  const one = await admin('webhooks-pause', '--tenant', b.id);
  expect(one.code).toBe(0);
  expect(JSON.parse(one.out).webhooks_paused_at).toEqual(expect.any(String));
  const unknown = await admin('webhooks-pause', '--tenant', '00000000-0000-4000-8000-000000000000');
  expect(unknown.code).toBe(1);
  expect(unknown.out).toContain('unknown tenant');
  expect((await admin('webhooks-resume', '--tenant', b.id)).code).toBe(0);
});
