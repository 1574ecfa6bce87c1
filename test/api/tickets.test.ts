/** The ticket API over real HTTP, against the run's PostgreSQL, Redis, Temporal and worker. */
import { randomUUID } from 'node:crypto';
import { createTenant, http, startStack, type Tenant, type TestStack } from '../support/stack';

let stack: TestStack;
let acme: Tenant;
let globex: Tenant;

beforeAll(async () => {
  stack = await startStack();
  acme = await createTenant(stack, 'Acme');
  globex = await createTenant(stack, 'Globex');
});
afterAll(() => stack.close());

const newTicket = (t: Tenant, extra: Record<string, unknown> = {}) => ({
  subject: 'Refund not received',
  description: 'I was promised a refund two weeks ago.',
  customer_id: t.customerId,
  ...extra,
});

async function create(t: Tenant, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
  return http(stack, 'POST', '/api/v1/tickets', { headers: { ...t.headers, ...headers }, body: newTicket(t, extra) });
}

async function counts(tenantId: string) {
  const { rows } = await stack.admin.query(
    `SELECT (SELECT count(*) FROM tickets WHERE tenant_id = $1)::int AS tickets,
            (SELECT count(*) FROM messages WHERE tenant_id = $1)::int AS messages,
            (SELECT count(*) FROM ticket_events WHERE tenant_id = $1)::int AS events,
            (SELECT count(*) FROM customers WHERE tenant_id = $1)::int AS customers`,
    [tenantId],
  );
  return rows[0];
}

function expectProblem(res: { status: number; headers: Headers; body: any }, status: number, code: string) {
  expect({ status: res.status, code: res.body?.code }).toEqual({ status, code });
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ type: expect.stringContaining(code), title: expect.any(String), status });
}

describe('create and read', () => {
  it('201 + Location + ETag, and the next GET sees it (read-your-writes)', async () => {
    const res = await create(acme, { priority: 'high', tags: ['Billing', 'refund', 'billing'] });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ status: 'new', priority: 'high', version: 1, tags: ['billing', 'refund'], tenant_id: acme.id });
    expect(res.headers.get('location')).toBe(`/api/v1/tickets/${res.body.id}`);
    expect(res.headers.get('etag')).toBe('"1"');

    const read = await http(stack, 'GET', res.headers.get('location')!, { headers: acme.headers });
    expect(read.status).toBe(200);
    expect(read.body).toEqual(res.body);

    const messages = await http(stack, 'GET', `/api/v1/tickets/${res.body.id}/messages`, { headers: acme.headers });
    expect(messages.body.data).toEqual([
      expect.objectContaining({ body: 'I was promised a refund two weeks ago.', author_type: 'customer', visibility: 'public' }),
    ]);
  });

  it('If-None-Match with the current ETag is a 304; a stale one gets the ticket', async () => {
    const { body, headers } = await create(acme);
    const etag = headers.get('etag')!;
    const cached = await http(stack, 'GET', `/api/v1/tickets/${body.id}`, { headers: { ...acme.headers, 'If-None-Match': etag } });
    expect(cached.status).toBe(304);
    expect(cached.body).toBeUndefined();
    const stale = await http(stack, 'GET', `/api/v1/tickets/${body.id}`, { headers: { ...acme.headers, 'If-None-Match': '"0"' } });
    expect(stale.status).toBe(200);
  });

  it('an unknown customer is a 422 and nothing is created', async () => {
    const before = await counts(acme.id);
    expectProblem(await create(acme, { customer_id: randomUUID() }), 422, 'unknown_customer');
    expectProblem(await create(acme, { customer_id: globex.customerId }), 422, 'unknown_customer');
    expect(await counts(acme.id)).toEqual(before);
  });
});

describe('Idempotency-Key', () => {
  it('same key and body replays the first response and creates one ticket', async () => {
    const key = randomUUID();
    const before = await counts(acme.id);
    const first = await create(acme, {}, { 'Idempotency-Key': key });
    const again = await create(acme, {}, { 'Idempotency-Key': key });
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first.body);
    expect(again.headers.get('location')).toBe(first.headers.get('location'));
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect((await counts(acme.id)).tickets).toBe(before.tickets + 1);
  });

  it('concurrent retries with the same key converge on one ticket', async () => {
    const key = randomUUID();
    const before = await counts(acme.id);
    const results = await Promise.all([1, 2, 3].map(() => create(acme, {}, { 'Idempotency-Key': key })));
    expect(results.map((r) => r.status)).toEqual([201, 201, 201]);
    expect(new Set(results.map((r) => r.body.id)).size).toBe(1);
    expect((await counts(acme.id)).tickets).toBe(before.tickets + 1);
  });

  it('same key with another body is a 422 and changes nothing', async () => {
    const key = randomUUID();
    await create(acme, {}, { 'Idempotency-Key': key });
    const before = await counts(acme.id);
    expectProblem(await create(acme, { subject: 'Something else' }, { 'Idempotency-Key': key }), 422, 'idempotency_key_reused');
    expect(await counts(acme.id)).toEqual(before);
  });

  it('keys are per tenant', async () => {
    const key = randomUUID();
    const a = await create(acme, {}, { 'Idempotency-Key': key });
    const g = await create(globex, {}, { 'Idempotency-Key': key });
    expect(g.status).toBe(201);
    expect(g.body.id).not.toBe(a.body.id);
  });
});

describe('change', () => {
  it('PATCH with the current If-Match applies and bumps the ETag; a stale one is a 412', async () => {
    const { body } = await create(acme);
    const path = `/api/v1/tickets/${body.id}`;
    const ok = await http(stack, 'PATCH', path, { headers: { ...acme.headers, 'If-Match': '"1"' }, body: { status: 'pending', assignee_id: acme.agentId } });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ status: 'pending', assignee_id: acme.agentId, version: 2 });
    expect(ok.headers.get('etag')).toBe('"2"');
    expect((await http(stack, 'GET', path, { headers: acme.headers })).body.status).toBe('pending');

    const stale = await http(stack, 'PATCH', path, { headers: { ...acme.headers, 'If-Match': '"1"' }, body: { priority: 'low' } });
    expectProblem(stale, 412, 'version_mismatch');
    expect(stale.body.current_version).toBe(2);
    expect((await http(stack, 'GET', path, { headers: acme.headers })).body).toMatchObject({ priority: 'normal', version: 2 });
  });

  it('an illegal transition is a 422 that lists the allowed ones, and changes nothing', async () => {
    const { body } = await create(acme);
    const res = await http(stack, 'PATCH', `/api/v1/tickets/${body.id}`, { headers: acme.headers, body: { status: 'closed' } });
    expectProblem(res, 422, 'illegal_transition');
    expect(res.body.allowed).toEqual(['open', 'pending', 'on_hold', 'solved']);
    const events = await http(stack, 'GET', `/api/v1/tickets/${body.id}/events`, { headers: acme.headers });
    expect(events.body.data).toHaveLength(1);
  });

  it("an agent's public reply opens a new ticket; a customer reply reopens a pending one; the timeline has both", async () => {
    const { body } = await create(acme);
    const path = `/api/v1/tickets/${body.id}`;
    const reply = await http(stack, 'POST', `${path}/messages`, { headers: acme.headers, body: { body: 'On it.' } });
    expect(reply.status).toBe(201);
    expect(reply.body).toMatchObject({ visibility: 'public', author_type: 'agent', author_id: acme.agentId, ticket: { status: 'open', version: 2 } });
    expect(reply.headers.get('location')).toBe(`${path}/messages/${reply.body.id}`);
    expect((await http(stack, 'GET', reply.headers.get('location')!, { headers: acme.headers })).body.body).toBe('On it.');

    const note = await http(stack, 'POST', `${path}/messages`, { headers: acme.headers, body: { body: 'VIP', visibility: 'internal' } });
    expect(note.body.ticket.status).toBe('open');
    await http(stack, 'PATCH', path, { headers: acme.headers, body: { status: 'pending' } });
    const customer = await http(stack, 'POST', `${path}/messages`, { headers: acme.headers, body: { body: 'Any news?', author_type: 'customer' } });
    expect(customer.body.ticket.status).toBe('open');

    const events = await http(stack, 'GET', `${path}/events`, { headers: acme.headers });
    expect(events.body.data.map((e: any) => [e.version, e.type])).toEqual([
      [1, 'ticket.created'],
      [2, 'ticket.message_added'],
      [3, 'ticket.message_added'],
      [4, 'ticket.updated'],
      [5, 'ticket.message_added'],
    ]);
    expect(events.body.data[4].changes).toEqual({ status: { from: 'pending', to: 'open' } });
  });

  it('a message with the same Idempotency-Key is added once', async () => {
    const { body } = await create(acme);
    const key = randomUUID();
    const send = () =>
      http(stack, 'POST', `/api/v1/tickets/${body.id}/messages`, { headers: { ...acme.headers, 'Idempotency-Key': key }, body: { body: 'once' } });
    const [a, b] = [await send(), await send()];
    expect(b.body.id).toBe(a.body.id);
    const list = await http(stack, 'GET', `/api/v1/tickets/${body.id}/messages`, { headers: acme.headers });
    expect(list.body.data.filter((m: any) => m.body === 'once')).toHaveLength(1);
  });
});

describe('tenant isolation', () => {
  it("another tenant's ticket is a 404 for every verb, and nothing changes", async () => {
    const { body } = await create(acme);
    const path = `/api/v1/tickets/${body.id}`;
    expectProblem(await http(stack, 'GET', path, { headers: globex.headers }), 404, 'not_found');
    expectProblem(await http(stack, 'PATCH', path, { headers: globex.headers, body: { priority: 'urgent' } }), 404, 'not_found');
    expectProblem(await http(stack, 'POST', `${path}/messages`, { headers: globex.headers, body: { body: 'x' } }), 404, 'not_found');
    expectProblem(await http(stack, 'GET', `${path}/messages`, { headers: globex.headers }), 404, 'not_found');
    expectProblem(await http(stack, 'GET', `${path}/events`, { headers: globex.headers }), 404, 'not_found');
    const list = await http(stack, 'GET', '/api/v1/tickets?limit=100', { headers: globex.headers });
    expect(list.body.data.map((t: any) => t.id)).not.toContain(body.id);
    expect((await http(stack, 'GET', path, { headers: acme.headers })).body.version).toBe(1);
  });

  it('no identity is a 401 problem', async () => {
    expectProblem(await http(stack, 'GET', '/api/v1/tickets'), 401, 'unauthenticated');
    expectProblem(await http(stack, 'GET', '/api/v1/tickets', { headers: { 'X-Deskflow-Tenant': randomUUID() } }), 401, 'unauthenticated');
  });
});

describe('lists', () => {
  let tenant: Tenant;
  beforeAll(async () => {
    tenant = await createTenant(stack, 'Initech');
    for (let i = 0; i < 7; i++) {
      await create(tenant, { priority: i % 2 ? 'high' : 'low', tags: i < 3 ? ['vip'] : [], assignee_id: i === 0 ? tenant.agentId : null });
    }
  });

  it('pages newest first with an opaque cursor until has_more is false', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: any = await http(stack, 'GET', `/api/v1/tickets?limit=3${cursor ? `&cursor=${cursor}` : ''}`, { headers: tenant.headers });
      expect(res.status).toBe(200);
      seen.push(...res.body.data.map((t: any) => t.id));
      expect(res.body.has_more).toBe(res.body.next_cursor !== null);
      cursor = res.body.next_cursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(new Set(seen).size).toBe(7);
    const { rows } = await stack.admin.query('SELECT id FROM tickets WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC', [tenant.id]);
    expect(seen).toEqual(rows.map((r) => r.id));
  });

  it('defaults to 25 and filters by status, priority, assignee, customer and tag', async () => {
    const all = await http(stack, 'GET', '/api/v1/tickets', { headers: tenant.headers });
    expect(all.body.data).toHaveLength(7);
    const q = async (query: string) => (await http(stack, 'GET', `/api/v1/tickets?${query}`, { headers: tenant.headers })).body.data.length;
    expect(await q('priority=high')).toBe(3);
    expect(await q('tag=vip')).toBe(3);
    expect(await q(`assignee_id=${tenant.agentId}`)).toBe(1);
    expect(await q(`customer_id=${tenant.customerId}`)).toBe(7);
    expect(await q('status=new,open')).toBe(7);
    expect(await q('status=solved')).toBe(0);
  });

  it('limit above 100, bad filters, unknown parameters and forged cursors are 400 problems', async () => {
    expectProblem(await http(stack, 'GET', '/api/v1/tickets?limit=101', { headers: tenant.headers }), 400, 'validation_failed');
    expectProblem(await http(stack, 'GET', '/api/v1/tickets?limit=0', { headers: tenant.headers }), 400, 'validation_failed');
    expectProblem(await http(stack, 'GET', "/api/v1/tickets?status=open'%20OR%201=1--", { headers: tenant.headers }), 400, 'validation_failed');
    expectProblem(await http(stack, 'GET', '/api/v1/tickets?assignee_id=1;DROP%20TABLE%20tickets', { headers: tenant.headers }), 400, 'validation_failed');
    expectProblem(await http(stack, 'GET', '/api/v1/tickets?tenant_id=x', { headers: tenant.headers }), 400, 'validation_failed');
    expectProblem(await http(stack, 'GET', '/api/v1/tickets?cursor=bm9wZQ', { headers: tenant.headers }), 400, 'invalid_cursor');
  });
});

describe('bad input persists nothing', () => {
  // CUSTOMER is a placeholder replaced with the tenant's customer id.
  const cases: [string, { body: unknown; headers?: Record<string, string> }, number, string][] = [
    ['malformed JSON', { body: '{"subject": "x",' }, 400, 'malformed_json'],
    ['unknown field (mass assignment)', { body: { subject: 's', description: 'd', status: 'closed', customer_id: 'CUSTOMER' } }, 400, 'validation_failed'],
    ['tenant_id in the body', { body: { subject: 's', description: 'd', tenant_id: 'CUSTOMER', customer_id: 'CUSTOMER' } }, 400, 'validation_failed'],
    ['missing subject', { body: { description: 'd', customer_id: 'CUSTOMER' } }, 400, 'validation_failed'],
    ['bad enum', { body: { subject: 's', description: 'd', customer_id: 'CUSTOMER', priority: 'meh' } }, 400, 'validation_failed'],
    ['not JSON at all', { body: 'subject=x', headers: { 'Content-Type': 'text/plain' } }, 415, 'unsupported_media_type'],
    ['a JSON array', { body: '[1,2]' }, 400, 'validation_failed'],
    ['oversized body', { body: { subject: 's', description: 'x'.repeat(200_000), customer_id: 'CUSTOMER' } }, 413, 'payload_too_large'],
  ];

  it.each(cases)('%s', async (_name, req, status, code) => {
    const before = await counts(acme.id);
    const body = typeof req.body === 'string' ? req.body : JSON.parse(JSON.stringify(req.body).replaceAll('CUSTOMER', acme.customerId));
    const res = await http(stack, 'POST', '/api/v1/tickets', { headers: { ...acme.headers, ...req.headers }, body });
    expectProblem(res, status, code);
    expect(await counts(acme.id)).toEqual(before);
  });

  it('bad ids are 404s; bad PATCH bodies and If-Match are 400s; nothing changes', async () => {
    const { body } = await create(acme);
    const path = `/api/v1/tickets/${body.id}`;
    const before = await counts(acme.id);
    expectProblem(await http(stack, 'GET', '/api/v1/tickets/not-a-uuid', { headers: acme.headers }), 404, 'not_found');
    expectProblem(await http(stack, 'PATCH', "/api/v1/tickets/1'%20OR%20'1'='1", { headers: acme.headers, body: { priority: 'low' } }), 404, 'not_found');
    expectProblem(await http(stack, 'GET', `/api/v1/tickets/${randomUUID()}`, { headers: acme.headers }), 404, 'not_found');
    expectProblem(await http(stack, 'PATCH', path, { headers: acme.headers, body: {} }), 400, 'validation_failed');
    expectProblem(await http(stack, 'PATCH', path, { headers: acme.headers, body: { version: 9 } }), 400, 'validation_failed');
    expectProblem(
      await http(stack, 'PATCH', path, { headers: { ...acme.headers, 'If-Match': 'banana' }, body: { priority: 'low' } }),
      400,
      'validation_failed',
    );
    expectProblem(
      await http(stack, 'POST', `${path}/messages`, { headers: acme.headers, body: { body: 'x', visibility: 'internal', author_type: 'customer' } }),
      400,
      'validation_failed',
    );
    expectProblem(await http(stack, 'DELETE', path, { headers: acme.headers }), 404, 'not_found');
    expect(await counts(acme.id)).toEqual(before);
  });
});

describe('health', () => {
  it('/healthz is alive and /readyz sees PostgreSQL, Redis, Temporal, its own warm-up and a warm worker', async () => {
    expect((await http(stack, 'GET', '/healthz')).body).toEqual({ status: 'ok' });
    const ready = await http(stack, 'GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.checks).toEqual({ lifecycle: 'ok', postgres: 'ok', redis: 'ok', temporal: 'ok', api: 'ok', worker: 'ok' });
  });

  it('/readyz is a 503 naming the dependency that is down', async () => {
    const broken = await startStack({ REDIS_URL: 'redis://127.0.0.1:1' });
    try {
      const res = await http(broken, 'GET', '/readyz');
      expect(res.status).toBe(503);
      expect(res.body.checks.postgres).toBe('ok');
      expect(res.body.checks.redis).toMatch(/^unavailable/);
    } finally {
      await broken.close();
    }
  });
});
