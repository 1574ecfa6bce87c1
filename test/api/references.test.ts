/**
 * Ids a ticket refers to must name objects of the caller's tenant: an assignee that is an active
 * user, a group. Another tenant's id, a deactivated user's or a random one is a 422 that changes nothing.
 */
import { randomUUID } from 'node:crypto';
import { createTenant, http, startStack, type Tenant, type TestStack } from '../support/stack';

let stack: TestStack;
let acme: Tenant;
let globex: Tenant;
let acmeGroup: string;
let globexGroup: string;

beforeAll(async () => {
  stack = await startStack();
  [acme, globex] = [await createTenant(stack, 'Acme'), await createTenant(stack, 'Globex')];
  const group = async (t: Tenant, name: string) => {
    const res = await http(stack, 'POST', '/api/v1/groups', { headers: t.admin.headers, body: { name } });
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toBe(`/api/v1/groups/${res.body.id}`);
    return res.body.id as string;
  };
  acmeGroup = await group(acme, 'Billing');
  globexGroup = await group(globex, 'Billing');
});
afterAll(async () => {
  await stack?.close();
});

const newTicket = (t: Tenant, extra: Record<string, unknown> = {}) =>
  http(stack, 'POST', '/api/v1/tickets', {
    headers: t.headers,
    body: { subject: 'Refund', description: 'Please refund order 42.', customer_id: t.customerId, ...extra },
  });

describe('creating a ticket', () => {
  it('accepts an assignee and a group of the tenant', async () => {
    const res = await newTicket(acme, { assignee_id: acme.agentId, group_id: acmeGroup });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ assignee_id: acme.agentId, group_id: acmeGroup });
  });

  it.each([
    ['another tenant’s user', () => ({ assignee_id: globex.agentId }), 'assignee_id'],
    ['a random assignee id', () => ({ assignee_id: randomUUID() }), 'assignee_id'],
    ['another tenant’s group', () => ({ group_id: globexGroup }), 'group_id'],
    ['a random group id', () => ({ group_id: randomUUID() }), 'group_id'],
  ])('refuses %s with 422 and creates nothing', async (_what, extra, field) => {
    const before = await stack.admin.query('SELECT count(*)::int AS n FROM tickets WHERE tenant_id = $1', [acme.id]);
    const res = await newTicket(acme, extra());
    expect(res.status).toBe(422);
    expect(res.body).toMatchObject({ code: 'unknown_reference', field });
    const after = await stack.admin.query('SELECT count(*)::int AS n FROM tickets WHERE tenant_id = $1', [acme.id]);
    expect(after.rows[0].n).toBe(before.rows[0].n);
  });
});

describe('changing a ticket', () => {
  it('refuses foreign or unknown references with 422 and leaves the ticket as it was', async () => {
    const created = await newTicket(acme);
    expect(created.status).toBe(201);
    const path = `/api/v1/tickets/${created.body.id}`;
    for (const [patch, field] of [
      [{ assignee_id: globex.agentId }, 'assignee_id'],
      [{ assignee_id: randomUUID() }, 'assignee_id'],
      [{ group_id: globexGroup }, 'group_id'],
      [{ group_id: randomUUID(), status: 'open' }, 'group_id'],
    ] as const) {
      const res = await http(stack, 'PATCH', path, { headers: acme.headers, body: patch });
      expect(res.status).toBe(422);
      expect(res.body).toMatchObject({ code: 'unknown_reference', field });
    }
    const now = await http(stack, 'GET', path, { headers: acme.headers });
    expect(now.body).toMatchObject({ version: created.body.version, assignee_id: null, group_id: null, status: 'new' });

    const ok = await http(stack, 'PATCH', path, { headers: acme.headers, body: { assignee_id: acme.admin.id, group_id: acmeGroup } });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ assignee_id: acme.admin.id, group_id: acmeGroup });
    // Clearing a reference needs no look-up and is always allowed.
    const cleared = await http(stack, 'PATCH', path, { headers: acme.headers, body: { assignee_id: null, group_id: null } });
    expect(cleared.status).toBe(200);
  });

  it('refuses a deactivated user as assignee', async () => {
    const user = await http(stack, 'POST', '/api/v1/users', {
      headers: acme.admin.headers,
      body: { email: `leaver-${randomUUID()}@acme.test`, name: 'Leaver', role: 'agent', password: 'a long enough password' },
    });
    expect(user.status).toBe(201);
    const off = await http(stack, 'PATCH', `/api/v1/users/${user.body.id}`, { headers: acme.admin.headers, body: { active: false } });
    expect(off.status).toBe(200);
    const res = await newTicket(acme, { assignee_id: user.body.id });
    expect(res.status).toBe(422);
    expect(res.body).toMatchObject({ code: 'unknown_reference', field: 'assignee_id' });
  });
});

describe('groups', () => {
  it('are listed per tenant and another tenant’s group is a 404', async () => {
    const list = await http(stack, 'GET', '/api/v1/groups', { headers: acme.headers });
    expect(list.status).toBe(200);
    expect(list.body.data.map((g: { id: string }) => g.id)).toEqual([acmeGroup]);
    expect((await http(stack, 'GET', `/api/v1/groups/${acmeGroup}`, { headers: acme.headers })).status).toBe(200);
    expect((await http(stack, 'GET', `/api/v1/groups/${globexGroup}`, { headers: acme.headers })).status).toBe(404);
  });

  it('names are unique per tenant (409), agents cannot create them (403)', async () => {
    const dup = await http(stack, 'POST', '/api/v1/groups', { headers: acme.admin.headers, body: { name: 'billing' } });
    expect(dup.status).toBe(409);
    const agent = await http(stack, 'POST', '/api/v1/groups', { headers: acme.agent.headers, body: { name: 'Sales' } });
    expect(agent.status).toBe(403);
  });
});
