/**
 * GET /api/v1/events, the change feed for integrators who poll: the tenant's deliverable events in order,
 * the same payloads the webhooks carry, an opaque cursor to resume from, internal notes only on request.
 */
import { randomUUID } from 'node:crypto';
import { openTicket } from '../sla/support';
import { createTenant, http, startStack, type Tenant, type TestStack } from '../support/stack';

let stack: TestStack;
let acme: Tenant;
let globex: Tenant;
let acmeTickets: string[];
let globexTicket: string;
let noteId: string;
let feedKey: Record<string, string>; // an API key of acme's holding only webhooks:manage

interface FeedEvent {
  id: string;
  seq: number;
  type: string;
  timestamp: string;
  data: any;
}

/** Reads the whole feed from `cursor`, page by page, checking each page's shape. */
async function readAll(t: Tenant, opts: { limit?: number; query?: string; headers?: Record<string, string>; cursor?: string } = {}) {
  const all: FeedEvent[] = [];
  let cursor = opts.cursor;
  let pages = 0;
  for (;;) {
    const params = new URLSearchParams({ limit: String(opts.limit ?? 25) });
    if (cursor) params.set('after', cursor);
    const res = await http(stack, 'GET', `/api/v1/events?${params}${opts.query ?? ''}`, { headers: opts.headers ?? t.admin.headers });
    expect(res.status).toBe(200);
    expect(res.body.data.length).toBeLessThanOrEqual(opts.limit ?? 25);
    expect(typeof res.body.next_cursor).toBe('string');
    all.push(...res.body.data);
    cursor = res.body.next_cursor;
    pages++;
    if (!res.body.has_more) return { events: all, cursor: cursor!, pages };
    expect(res.body.data.length).toBe(opts.limit ?? 25);
  }
}

/** What the webhooks send for the tenant, from the stored bodies (as the owner). */
async function stored(tenantId: string, includeInternal = false): Promise<FeedEvent[]> {
  const { rows } = await stack.admin.query(
    `SELECT id, seq, body FROM webhook_events WHERE tenant_id = $1 AND type <> 'webhook.test' AND ($2 OR NOT internal) ORDER BY seq`,
    [tenantId, includeInternal],
  );
  return rows.map((r) => ({ id: r.id, seq: Number(r.seq), ...JSON.parse(r.body) }));
}

const ticketIdsIn = (events: FeedEvent[]) => new Set(events.map((e) => e.data.ticket_id));

beforeAll(async () => {
  stack = await startStack();
  acme = await createTenant(stack, 'Acme');
  globex = await createTenant(stack, 'Globex');
  acmeTickets = [];
  for (let i = 0; i < 3; i++) acmeTickets.push((await openTicket(stack, acme)).id);
  const [first] = acmeTickets;
  await http(stack, 'PATCH', `/api/v1/tickets/${first}`, { headers: acme.headers, body: { priority: 'high' } });
  await http(stack, 'POST', `/api/v1/tickets/${first}/messages`, { headers: acme.headers, body: { body: 'Looking into it.' } });
  const note = await http(stack, 'POST', `/api/v1/tickets/${first}/messages`, {
    headers: acme.headers,
    body: { body: 'Internal: refund approved by finance.', visibility: 'internal' },
  });
  noteId = note.body.id;
  globexTicket = (await openTicket(stack, globex)).id;
  const key = await http(stack, 'POST', '/api/v1/api-keys', { headers: acme.admin.headers, body: { name: 'poller', scopes: ['webhooks:manage'] } });
  feedKey = { Authorization: `Bearer ${key.body.token}` };
});
afterAll(() => stack.close());

it('the tenant’s events in seq order, page by page, with the exact payloads the webhooks send', async () => {
  const { events, pages } = await readAll(acme, { limit: 2 });
  const expected = await stored(acme.id);
  expect(events).toEqual(expected);
  expect(pages).toBe(Math.ceil(expected.length / 2));
  expect(events.map((e) => e.type)).toEqual([
    'ticket.created',
    'ticket.created',
    'ticket.created',
    'ticket.updated',
    'ticket.message_added', // the public reply; the internal note is left out
  ]);
  expect(events.map((e) => e.seq)).toEqual([...events.map((e) => e.seq)].sort((a, b) => a - b));
  expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
  expect(ticketIdsIn(events)).toEqual(new Set(acmeTickets));
  expect(events[3]!.data).toMatchObject({ ticket_id: acmeTickets[0], version: 2, changes: { priority: { from: 'normal', to: 'high' } } });
  // The same page through the house name of the cursor parameter.
  const first = await http(stack, 'GET', '/api/v1/events?limit=2', { headers: acme.admin.headers });
  const viaCursor = await http(stack, 'GET', `/api/v1/events?limit=2&cursor=${first.body.next_cursor}`, { headers: acme.admin.headers });
  expect(viaCursor.body.data).toEqual(events.slice(2, 4));
});

it('internal notes only when asked for, by a credential that manages webhooks', async () => {
  const plain = await readAll(acme, { headers: feedKey });
  expect(plain.events.some((e) => e.data.message?.visibility === 'internal')).toBe(false);
  const withNotes = await readAll(acme, { headers: feedKey, query: '&include_internal=true' });
  expect(withNotes.events).toEqual(await stored(acme.id, true));
  const note = withNotes.events.find((e) => e.data.message?.id === noteId);
  expect(note).toMatchObject({ type: 'ticket.message_added', data: { message: { visibility: 'internal', body: 'Internal: refund approved by finance.' } } });
  // An agent (no webhooks:manage) cannot read the feed at all, notes or not.
  const agent = await http(stack, 'GET', '/api/v1/events?include_internal=true', { headers: acme.agent.headers });
  expect({ status: agent.status, code: agent.body.code }).toEqual({ status: 403, code: 'forbidden' });
});

it('a poller at the end keeps next_cursor and later gets exactly what happened since', async () => {
  const { cursor } = await readAll(acme);
  const idle = await http(stack, 'GET', `/api/v1/events?after=${cursor}`, { headers: acme.admin.headers });
  expect(idle.body).toEqual({ data: [], next_cursor: cursor, has_more: false });
  await http(stack, 'PATCH', `/api/v1/tickets/${acmeTickets[1]}`, { headers: acme.headers, body: { tags: ['vip'] } });
  await http(stack, 'PATCH', `/api/v1/tickets/${globexTicket}`, { headers: globex.headers, body: { tags: ['vip'] } });
  const since = await readAll(acme, { cursor });
  expect(since.events.map((e) => [e.type, e.data.ticket_id])).toEqual([['ticket.updated', acmeTickets[1]]]);
});

it('tenant isolation: each tenant reads only its own events, whatever cursor it sends', async () => {
  const globexFeed = await readAll(globex);
  expect(ticketIdsIn(globexFeed.events)).toEqual(new Set([globexTicket]));
  expect(globexFeed.events).toEqual(await stored(globex.id));
  // acme's cursor is only a position: from the start of the feed, globex still sees only its own.
  const fromAcmeStart = await readAll(globex, {
    cursor: (await http(stack, 'GET', '/api/v1/events?limit=1', { headers: acme.admin.headers })).body.next_cursor,
  });
  expect([...ticketIdsIn(fromAcmeStart.events)].filter((id) => acmeTickets.includes(id))).toEqual([]);
  const acmeFeed = await readAll(acme, { query: '&include_internal=true' });
  expect(ticketIdsIn(acmeFeed.events).has(globexTicket)).toBe(false);
});

it('a webhook.test event (sent to one endpoint on request) is not part of the feed', async () => {
  const before = await readAll(acme);
  const endpointId = randomUUID();
  await stack.admin.query("INSERT INTO webhook_endpoints (id, tenant_id, url, secret_enc) VALUES ($1, $2, 'https://hooks.example.com/t', 'dummy')", [
    endpointId,
    acme.id,
  ]);
  const body = JSON.stringify({ type: 'webhook.test', timestamp: new Date().toISOString(), data: { endpoint_id: endpointId, message: 'hi' } });
  await stack.admin.query("INSERT INTO webhook_events (id, tenant_id, type, body) VALUES ($1, $2, 'webhook.test', $3)", [randomUUID(), acme.id, body]);
  const after = await readAll(acme, { cursor: before.cursor });
  expect(after.events).toEqual([]);
});

it('the list contract: limit 1–100, a tampered cursor, unknown or doubled parameters are 400s', async () => {
  const get = (q: string) => http(stack, 'GET', `/api/v1/events?${q}`, { headers: acme.admin.headers });
  const cases: [string, string][] = [
    ['limit=101', 'validation_failed'],
    ['limit=0', 'validation_failed'],
    ['after=bm90LWEtY3Vyc29y', 'invalid_cursor'],
    [`after=${Buffer.from('[-1]').toString('base64url')}`, 'invalid_cursor'],
    ['include_internal=yes', 'validation_failed'],
    ['since=0', 'validation_failed'],
  ];
  const { cursor } = await readAll(acme);
  cases.push([`after=${cursor}&cursor=${cursor}`, 'validation_failed']);
  for (const [q, code] of cases) {
    const res = await get(q);
    expect({ q, status: res.status, code: res.body.code }).toEqual({ q, status: 400, code });
  }
  const full = await get('limit=100');
  expect(full.status).toBe(200);
  const defaulted = await get('');
  expect(defaulted.body.data.length).toBe(Math.min(25, (await stored(acme.id)).length));
});

it('while a tenant writes concurrently, a poller following the cursor misses nothing and sees nothing twice', async () => {
  const busy = await createTenant(stack, 'Busy');
  const seen: FeedEvent[] = [];
  let cursor: string | undefined;
  let writing = true;
  const poll = async () => {
    const q = cursor ? `?limit=100&after=${cursor}` : '?limit=100';
    const res = await http(stack, 'GET', `/api/v1/events${q}`, { headers: busy.admin.headers });
    seen.push(...res.body.data);
    cursor = res.body.next_cursor;
  };
  const poller = (async () => {
    while (writing) {
      await poll();
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      const t = await openTicket(stack, busy);
      await http(stack, 'PATCH', `/api/v1/tickets/${t.id}`, { headers: busy.headers, body: { priority: 'high' } });
    }),
  );
  writing = false;
  await poller;
  await poll();
  const all = await stored(busy.id);
  expect(all).toHaveLength(16);
  expect(seen.map((e) => e.id)).toEqual(all.map((e) => e.id));
}, 60_000);

it('an event takes its seq only once the tenant’s earlier writes have committed (the feed never skips one)', async () => {
  const tenant = await createTenant(stack, 'Ordered');
  const ticket = await openTicket(stack, tenant);
  const blocker = await stack.admin.connect();
  let patched: Promise<unknown> | undefined;
  let earlier: number;
  try {
    // Another write of the tenant holds the audit chain's lock (as a concurrent ticket change would) ...
    await blocker.query('BEGIN');
    await blocker.query("SELECT pg_advisory_xact_lock(hashtext('audit:' || $1))", [tenant.id]);
    patched = http(stack, 'PATCH', `/api/v1/tickets/${ticket.id}`, { headers: tenant.headers, body: { priority: 'low' } });
    // ... while the projection of this change waits for it,
    const waiting = async () => (await stack.admin.query("SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")).rows[0].n > 0;
    for (let i = 0; i < 200 && !(await waiting()); i++) await new Promise((r) => setTimeout(r, 25));
    expect(await waiting()).toBe(true);
    // ... and records an event of its own, committed first.
    const body = JSON.stringify({ type: 'ticket.updated', timestamp: new Date().toISOString(), data: {} });
    const { rows } = await blocker.query("INSERT INTO webhook_events (id, tenant_id, type, body) VALUES ($1, $2, 'ticket.updated', $3) RETURNING seq", [
      randomUUID(),
      tenant.id,
      body,
    ]);
    earlier = Number(rows[0].seq);
    await blocker.query('COMMIT');
  } finally {
    await blocker.query('ROLLBACK').catch(() => undefined);
    blocker.release();
  }
  expect(((await patched) as { status: number }).status).toBe(200);
  const { rows } = await stack.admin.query("SELECT seq FROM webhook_events WHERE ticket_id = $1 AND type = 'ticket.updated'", [ticket.id]);
  // Committed later, numbered later: a reader that saw `earlier` has not passed the change's event.
  expect(Number(rows[0].seq)).toBeGreaterThan(earlier!);
});
