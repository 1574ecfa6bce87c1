/**
 * Live updates over real WebSocket clients against two API nodes sharing Redis, with the run's real worker writing
 * the events: fan-out across nodes, tenant isolation, internal notes, resume, revocation, slow consumers, a node
 * draining, and the ways in (header, subprotocol, first message) and out (close codes).
 */
import { randomInt, randomUUID } from 'node:crypto';
import { subscriberNameOf } from '../../api/live/fanout';
import { createProjectionActivities } from '../../activities/projection';
import { openTicket } from '../../domain/ticket-state-machine';
import { LIVE_CLOSE } from '../../domain/live';
import { mintApiKey } from '../../platform/api-keys';
import { compareLiveIds, publishLiveEvent } from '../../platform/live-bus';
import { createTenant, http, login, startStack, type Tenant, type TestStack } from '../support/stack';
import { connectLive, type LiveTestClient, typesOf } from './support';

const NODE_SETTINGS = {
  LIVE_AUTH_RECHECK: '300ms',
  LIVE_AUTH_TIMEOUT: '1s',
  LIVE_MAX_BUFFER: String(64 * 1024),
  LIVE_MAX_CONNECTIONS_PER_USER: '4',
};

let a: TestStack; // two API nodes (one process here, two HTTP servers, each with its own live server and subscriber)
let b: TestStack;
let acme: Tenant;
let globex: Tenant;
const clients: LiveTestClient[] = [];

beforeAll(async () => {
  a = await startStack(NODE_SETTINGS);
  b = await startStack(NODE_SETTINGS);
  acme = await createTenant(a, 'Acme');
  globex = await createTenant(a, 'Globex');
});
// Each test's connections end with it (the per-user bound counts open ones).
afterEach(async () => {
  const open = clients.splice(0);
  for (const c of open) c.ws.terminate();
  await Promise.all(open.map((c) => c.closed));
  await new Promise((r) => setTimeout(r, 50)); // the server sees the closes too
});
afterAll(async () => {
  await Promise.all([a?.close(), b?.close()]);
});

async function live(...args: Parameters<typeof connectLive>): Promise<LiveTestClient> {
  const c = await connectLive(...args);
  clients.push(c);
  return c;
}

async function createTicket(tenant: Tenant, subject = 'Live ticket'): Promise<string> {
  const res = await http(a, 'POST', '/api/v1/tickets', {
    headers: { ...tenant.headers, 'Idempotency-Key': randomUUID() },
    body: { subject, description: 'seen live', customer_id: tenant.customerId },
  });
  expect(res.status).toBe(201);
  return res.body.id as string;
}

const isEventOf = (ticketId: string, type: string) => (m: { type: string; event?: { type: string; data: Record<string, unknown> } }) =>
  m.type === 'event' && m.event?.type === type && m.event.data.ticket_id === ticketId;

it('an event written by the worker reaches subscribers on both nodes, in the webhook envelope, with an id', async () => {
  const onA = await live(a, acme.agent.token);
  const onB = await live(b, acme.admin.token, { via: 'protocol' });
  expect(onB.ws.protocol).toBe('deskflow.v1'); // the token is never echoed back
  const ticketId = await createTicket(acme);
  const [seenA, seenB] = await Promise.all([onA.waitFor(isEventOf(ticketId, 'ticket.created')), onB.waitFor(isEventOf(ticketId, 'ticket.created'))]);
  expect(seenA).toEqual(seenB);
  expect(seenA).toMatchObject({ type: 'event', id: expect.stringMatching(/^\d+-\d+$/), event: { type: 'ticket.created', timestamp: expect.any(String) } });
  expect((seenA as unknown as { event: { data: { ticket: { subject: string } } } }).event.data.ticket.subject).toBe('Live ticket');
});

it("tenant B never receives tenant A's events", async () => {
  const globexClient = await live(b, globex.agent.token);
  const acmeClient = await live(b, acme.agent.token);
  const ticketId = await createTicket(acme);
  await acmeClient.waitFor(isEventOf(ticketId, 'ticket.created'));
  const globexTicket = await createTicket(globex);
  await globexClient.waitFor(isEventOf(globexTicket, 'ticket.created'));
  // Globex's own event arrived after Acme's: had Acme's been sent to it, it would be there.
  expect(globexClient.events().map((e) => e.event.data.ticket_id)).toEqual([globexTicket]);
});

it('an internal note reaches agents but never an API key; a public reply reaches both', async () => {
  const key = await http(a, 'POST', '/api/v1/api-keys', {
    headers: { ...acme.admin.headers, 'Idempotency-Key': randomUUID() },
    body: { name: 'live reader', scopes: ['tickets:read'] },
  });
  expect(key.status).toBe(201);
  const agent = await live(a, acme.agent.token);
  const integration = await live(b, key.body.token as string);
  const ticketId = await createTicket(acme);
  await integration.waitFor(isEventOf(ticketId, 'ticket.created'));
  for (const visibility of ['internal', 'public']) {
    const res = await http(a, 'POST', `/api/v1/tickets/${ticketId}/messages`, {
      headers: { ...acme.agent.headers, 'Idempotency-Key': randomUUID() },
      body: { body: `a ${visibility} message`, visibility },
    });
    expect(res.status).toBe(201);
  }
  const visibilities = (c: LiveTestClient) =>
    c
      .events()
      .filter((e) => e.event.type === 'ticket.message_added' && e.event.data.ticket_id === ticketId)
      .map((e) => (e.event.data as { message: { visibility: string } }).message.visibility);
  await agent.waitFor((m) => m.type === 'event' && m.event.type === 'ticket.message_added' && visibilities(agent).length === 2);
  await integration.waitFor((m) => m.type === 'event' && m.event.type === 'ticket.message_added' && m.event.data.ticket_id === ticketId);
  expect(visibilities(agent)).toEqual(['internal', 'public']);
  expect(visibilities(integration)).toEqual(['public']);
});

it('a client reconnecting with its last id gets exactly the events it missed, on the other node', async () => {
  const first = await live(a, acme.agent.token);
  const before = await createTicket(acme, 'before the drop');
  const last = await first.waitFor(isEventOf(before, 'ticket.created'));
  first.ws.terminate();
  const missed = [await createTicket(acme, 'missed 1'), await createTicket(acme, 'missed 2')];
  const back = await live(b, acme.agent.token, { via: 'message', lastEventId: (last as { id: string }).id });
  for (const id of missed) await back.waitFor(isEventOf(id, 'ticket.created'));
  const after = await createTicket(acme, 'after the resume');
  await back.waitFor(isEventOf(after, 'ticket.created'));
  const created = back
    .events()
    .filter((e) => e.event.type === 'ticket.created')
    .map((e) => e.event.data.ticket_id);
  // Exactly the missed ones, then the live one: nothing before its last id, nothing twice.
  expect(created.filter((id) => [before, ...missed, after].includes(id as string))).toEqual([...missed, after]);
  const ids = back.events().map((e) => e.id);
  expect(new Set(ids).size).toBe(ids.length);
});

it('a projection retried after its commit (the attempt died before publishing) publishes the event, and only once', async () => {
  const c = await live(b, acme.agent.token);
  const ticketId = randomUUID();
  const change = openTicket(
    {
      tenant_id: acme.id,
      ticket_id: ticketId,
      input: {
        subject: 'Retried projection',
        description: 'committed, not published',
        customer_id: acme.customerId,
        priority: 'normal',
        channel: 'api',
        assignee_id: null,
        group_id: null,
        tags: [],
      },
      actor: { type: 'agent', id: acme.agentId },
    },
    randomUUID(),
    new Date().toISOString(),
  );
  // The first attempt commits and dies before its publish leaves (here: it has no Redis to publish on).
  await createProjectionActivities(a.pool).projectTicketChange(change);
  // Temporal retries it: everything is in the database already; the event is published now, and a further retry (or
  // a second worker racing it) does not publish it again.
  await createProjectionActivities(a.pool, a.redis).projectTicketChange(change);
  await createProjectionActivities(a.pool, a.redis).projectTicketChange(change);
  await c.waitFor(isEventOf(ticketId, 'ticket.created'));
  const marker = await createTicket(acme, 'after the retries'); // published after them: once it is in, they are too
  await c.waitFor(isEventOf(marker, 'ticket.created'));
  expect(c.events().filter((e) => e.event.data.ticket_id === ticketId)).toHaveLength(1);
});

it('a last id older than the resume window gets `resync` naming the newest event to carry on from; live events follow', async () => {
  const witness = await live(b, acme.admin.token);
  const earlier = await createTicket(acme, 'kept in the window');
  await witness.waitFor(isEventOf(earlier, 'ticket.created')); // the stream holds at least this one
  const c = await live(a, acme.agent.token, { via: 'message', lastEventId: `${Date.now() - 60 * 60 * 1000}-0` });
  const resync = await c.waitFor((m) => m.type === 'resync');
  expect(resync).toMatchObject({ type: 'resync', reason: 'gap', last_event_id: expect.stringMatching(/^\d+-\d+$/) });
  const ticketId = await createTicket(acme, 'after the resync');
  const next = await c.waitFor(isEventOf(ticketId, 'ticket.created'));
  expect(compareLiveIds((next as { id: string }).id, (resync as { last_event_id: string }).last_event_id)).toBeGreaterThan(0);
  expect(c.events()).toHaveLength(1); // nothing older than the resync point
});

it('logging out (the session ends, the token is revoked) closes the socket with 4003', async () => {
  const session = await login(a, acme.agent.email, acme.agent.password);
  const c = await live(b, session.token);
  const res = await http(a, 'POST', '/api/v1/auth/logout', { headers: { Authorization: `Bearer ${session.token}` } });
  expect(res.status).toBe(204);
  expect((await c.closed).code).toBe(LIVE_CLOSE.revoked);
  // And the token no longer opens one.
  await expect(connectLive(a, session.token)).rejects.toMatchObject({ status: 401 });
});

/** Large live events straight on the bus (the worker's path, without making the changes): `ticketOf(n)` names each one's ticket. */
async function flood(tenantId: string, count: number, bytes: number, type: string, ticketOf: (n: number) => string): Promise<void> {
  for (let n = 0; n < count; n++) {
    const ticketId = ticketOf(n);
    await publishLiveEvent(
      a.redis,
      tenantId,
      {
        audience: 'tickets',
        ticket: { id: ticketId, status: 'open', assignee_id: null, group_id: null, was: null },
        internal: false,
        event: { type, timestamp: new Date().toISOString(), data: { ticket_id: ticketId, n, padding: 'x'.repeat(bytes) } },
      },
      { events: 1000, ms: 300_000 },
    );
  }
}
const socketOf = (c: LiveTestClient) => (c.ws as unknown as { _socket: import('node:net').Socket })._socket;

it('a deliberately slow consumer is closed with 4008 without affecting the others', async () => {
  const slowco = await createTenant(a, 'Slowco'); // its own stream: the large events below stay out of Acme's window
  const slow = await live(a, slowco.agent.token);
  const healthy = await live(a, slowco.admin.token);
  // The slow one stops reading: its socket is paused, so the kernel's buffers fill and then the server's.
  socketOf(slow).pause();
  const total = 200; // 20 MB of distinct tickets' events (nothing to collapse): past any loopback socket buffer and the bound
  const tickets = Array.from({ length: total }, () => randomUUID());
  await flood(slowco.id, total, 100 * 1024, 'ticket.created', (n) => tickets[n]!);
  socketOf(slow).resume(); // it reads again: what was sent before the close, then the close frame
  await healthy.waitFor((m) => m.type === 'event' && m.event.data.n === total - 1, 30_000);
  expect(healthy.events().map((e) => e.event.data.ticket_id)).toEqual(tickets);
  expect((await slow.closed).code).toBe(LIVE_CLOSE.slowConsumer);
  expect(slow.events().length).toBeLessThan(total); // cut off, not fed everything
}, 60_000);

it('a burst of updates of one ticket to a client that is behind collapses to the latest, in order, and keeps it connected', async () => {
  const burstco = await createTenant(a, 'Burstco');
  const behind = await live(a, burstco.agent.token);
  socketOf(behind).pause();
  const ticketId = randomUUID();
  const total = 1000; // 20 MB of updates of one ticket
  await flood(burstco.id, total, 20 * 1024, 'ticket.updated', () => ticketId);
  socketOf(behind).resume();
  await behind.waitFor((m) => m.type === 'event' && m.event.data.n === total - 1, 30_000);
  const ns = behind.events().map((e) => e.event.data.n as number);
  expect(ns.length).toBeLessThan(total); // collapsed…
  expect(ns).toEqual([...ns].sort((x, y) => x - y)); // …in order…
  const ids = behind.events().map((e) => e.id);
  expect(ids).toEqual([...ids].sort((x, y) => compareLiveIds(x, y)));
  expect(behind.ws.readyState).toBe(behind.ws.OPEN); // …and not a slow consumer: its memory stayed bounded
}, 60_000);

it('a draining node tells its clients to reconnect (1012); resuming on the other node loses nothing', async () => {
  const node = await startStack(NODE_SETTINGS);
  try {
    const c = await live(node, acme.agent.token);
    const before = await createTicket(acme, 'before the restart');
    const last = await c.waitFor(isEventOf(before, 'ticket.created'));
    const draining = node.live.drain(2000);
    await c.waitFor((m) => m.type === 'reconnect');
    expect((await c.closed).code).toBe(LIVE_CLOSE.restart);
    await draining;
    const during = await createTicket(acme, 'while reconnecting');
    const resumed = await live(b, acme.agent.token, { lastEventId: (last as { id: string }).id });
    await resumed.waitFor(isEventOf(during, 'ticket.created'));
    expect(resumed.events().filter((e) => e.event.data.ticket_id === before)).toEqual([]);
    // A drained node refuses new connections.
    await expect(connectLive(node, acme.agent.token)).rejects.toMatchObject({ status: 503 });
  } finally {
    await node.close();
  }
});

it('narrowing the queue: only matching tickets, plus those followed one by one; a ticket leaving the filter is sent once more', async () => {
  const c = await live(a, acme.agent.token);
  c.send({ type: 'subscribe', queue: { assignee_id: 'me' } });
  const followed = await createTicket(acme, 'followed');
  c.send({ type: 'subscribe', tickets: [followed] });
  const mine = await createTicket(acme, 'mine soon');
  const other = await createTicket(acme, 'not mine');
  const assign = await http(a, 'PATCH', `/api/v1/tickets/${mine}`, {
    headers: { ...acme.agent.headers, 'If-Match': '"1"' },
    body: { assignee_id: acme.agentId },
  });
  expect(assign.status).toBe(200);
  await c.waitFor(isEventOf(mine, 'ticket.updated'));
  await http(a, 'PATCH', `/api/v1/tickets/${followed}`, { headers: { ...acme.agent.headers, 'If-Match': '"1"' }, body: { priority: 'high' } });
  await c.waitFor(isEventOf(followed, 'ticket.updated'));
  // Unassigned again: it leaves the filter, and that change is still sent.
  const unassign = await http(a, 'PATCH', `/api/v1/tickets/${mine}`, { headers: { ...acme.agent.headers, 'If-Match': '"2"' }, body: { assignee_id: null } });
  expect(unassign.status).toBe(200);
  await c.waitFor(
    (m) =>
      isEventOf(mine, 'ticket.updated')(m as never) &&
      (m as unknown as { event: { data: { ticket: { assignee_id: null } } } }).event.data.ticket.assignee_id === null,
  );
  expect(typesOf(c, other)).toEqual([]);
  expect(typesOf(c, mine)).toEqual(['ticket.updated', 'ticket.updated']); // created unassigned: not in the queue then
});

describe('ways in and out', () => {
  it('no credential within the timeout: 4001; a bad token on the upgrade: 401 before any socket', async () => {
    const c = await live(a, null);
    expect((await c.closed).code).toBe(LIVE_CLOSE.unauthenticated);
    await expect(connectLive(a, 'not-a-token')).rejects.toMatchObject({ status: 401 });
  });

  it('a message before authenticating closes with 4001; an invalid message afterwards is answered with an error and changes nothing', async () => {
    const early = await live(a, null);
    early.send({ type: 'subscribe', tickets: [] });
    expect((await early.closed).code).toBe(LIVE_CLOSE.unauthenticated);

    const c = await live(a, acme.agent.token);
    c.send('{not json');
    c.send({ type: 'subscribe', queue: { status: ['nonsense'] } });
    c.send({ type: 'presence', ticket_id: 'x\u0000y', state: 'viewing' });
    const errors: unknown[] = [];
    for (let i = 0; i < 3; i++) errors.push(await c.waitFor((m) => m.type === 'error' && !errors.includes(m)));
    expect(errors).toEqual(Array(3).fill(expect.objectContaining({ type: 'error', status: 400 })));
    expect(c.ws.readyState).toBe(c.ws.OPEN);
    const ticketId = await createTicket(acme); // the bad subscribe changed nothing: the whole queue still arrives
    await c.waitFor(isEventOf(ticketId, 'ticket.created'));
  });

  it('an oversized message closes with 1009; a foreign origin is refused with 403; too many connections: 4029', async () => {
    const big = await live(a, acme.agent.token);
    big.send({ type: 'subscribe', tickets: [], padding: 'x'.repeat(64 * 1024) });
    expect((await big.closed).code).toBe(LIVE_CLOSE.tooBig);

    await expect(connectLive(a, acme.agent.token, { origin: 'https://evil.example' })).rejects.toMatchObject({ status: 403 });
    const same = await live(a, acme.agent.token, { origin: a.url });
    expect(same.ws.readyState).toBe(same.ws.OPEN);

    const session = await login(a, acme.admin.email, acme.admin.password);
    const open: LiveTestClient[] = [];
    for (let i = 0; i < 4; i++) open.push(await live(b, session.token));
    const fifth = await live(b, null);
    fifth.send({ type: 'auth', token: session.token });
    expect((await fifth.closed).code).toBe(LIVE_CLOSE.tooManyConnections);
    for (const c of open) c.close();
  });

  it('guessing API keys over sockets spends the same per-address budget as REST; a message flood closes with 1008', async () => {
    // Behind one trusted proxy, from an address of this test's own (the budget is shared by every stack of the run).
    const strict = await startStack({ ...NODE_SETTINGS, API_KEY_FAILURES_PER_IP: '3', TRUST_PROXY: '1' });
    const from = { 'X-Forwarded-For': `10.${randomInt(256)}.${randomInt(256)}.${randomInt(1, 255)}` };
    try {
      const guess = () => mintApiKey().token; // well-formed, unknown
      for (let i = 0; i < 3; i++) await expect(connectLive(strict, guess(), { headers: from })).rejects.toMatchObject({ status: 401 });
      const key = await http(strict, 'POST', '/api/v1/api-keys', {
        headers: { ...acme.admin.headers, 'Idempotency-Key': randomUUID() },
        body: { name: 'after the guesses', scopes: ['tickets:read'] },
      });
      // Spent: even a valid key from this address is refused until the window passes (over REST too).
      await expect(connectLive(strict, key.body.token as string, { headers: from })).rejects.toMatchObject({ status: 429 });
      expect((await http(strict, 'GET', '/api/v1/tickets', { headers: { ...from, Authorization: `Bearer ${key.body.token}` } })).status).toBe(429);
      // Another address is not affected.
      const elsewhere = await live(strict, key.body.token as string, { headers: { 'X-Forwarded-For': '10.255.255.1' } });
      expect(elsewhere.ws.readyState).toBe(elsewhere.ws.OPEN);
      elsewhere.ws.terminate();
    } finally {
      await strict.close();
    }
    const flooder = await live(a, acme.agent.token);
    for (let i = 0; i < 60; i++) flooder.send({ type: 'unsubscribe', tickets: [] });
    expect((await flooder.closed).code).toBe(LIVE_CLOSE.policy);
  });

  it('an access token that expires without a renew closes the socket (4002); a renew over the socket keeps it open', async () => {
    const short = await startStack({ ...NODE_SETTINGS, ACCESS_TOKEN_TTL: '4s' });
    try {
      const expiring = await login(short, acme.agent.email, acme.agent.password);
      const renewed = await login(short, acme.agent.email, acme.agent.password);
      const lapses = await live(short, expiring.token);
      const keeps = await live(short, renewed.token);
      // Renewed with a fresh token (as the client's refresh would give) before the first one expires.
      await new Promise((r) => setTimeout(r, 2000));
      const fresh = await login(short, acme.agent.email, acme.agent.password);
      keeps.send({ type: 'renew', token: fresh.token });
      expect((await lapses.closed).code).toBe(LIVE_CLOSE.tokenExpired);
      await new Promise((r) => setTimeout(r, 1000)); // past the first token's expiry, before the fresh one's
      expect(keeps.ws.readyState).toBe(keeps.ws.OPEN);
      // A renew with another user's token is refused (and the connection stays as it was).
      keeps.send({ type: 'renew', token: (await login(short, acme.admin.email, acme.admin.password)).token });
      expect(await keeps.waitFor((m) => m.type === 'error')).toMatchObject({ status: 400 });
    } finally {
      await short.close();
    }
  });
});

it('presence over the socket: who is on a ticket reaches its followers and REST; leaving or closing ends it; not for foreign tickets or API keys', async () => {
  const ticketId = await createTicket(acme, 'collision');
  const watcher = await live(b, acme.admin.token);
  watcher.send({ type: 'subscribe', tickets: [ticketId] });
  expect(await watcher.waitFor((m) => m.type === 'presence' && m.ticket_id === ticketId)).toMatchObject({ viewers: [] });

  const agent = await live(a, acme.agent.token);
  agent.send({ type: 'presence', ticket_id: ticketId, state: 'replying' });
  const seen = await watcher.waitFor((m) => m.type === 'presence' && m.ticket_id === ticketId && m.viewers.length === 1);
  expect(seen).toMatchObject({ viewers: [{ user_id: acme.agentId, name: 'Acme agent', state: 'replying' }] });
  const rest = await http(a, 'GET', `/api/v1/tickets/${ticketId}/presence`, { headers: acme.admin.headers });
  expect(rest.body.data).toEqual([expect.objectContaining({ user_id: acme.agentId, state: 'replying' })]);

  // Closing the connection leaves the ticket at once.
  agent.ws.terminate();
  await watcher.waitFor(
    (m) => m.type === 'presence' && m.ticket_id === ticketId && m.viewers.length === 0 && watcher.messages.indexOf(m) > watcher.messages.indexOf(seen),
  );

  // Another tenant's ticket, or an API key: refused, and nothing is recorded.
  const other = await live(a, globex.agent.token);
  other.send({ type: 'presence', ticket_id: ticketId, state: 'viewing' });
  expect(await other.waitFor((m) => m.type === 'error')).toMatchObject({ status: 400, detail: 'no such ticket' });
  const key = await http(a, 'POST', '/api/v1/api-keys', {
    headers: { ...acme.admin.headers, 'Idempotency-Key': randomUUID() },
    body: { name: 'presence-less', scopes: ['tickets:read'] },
  });
  const integration = await live(a, key.body.token as string);
  integration.send({ type: 'presence', ticket_id: ticketId, state: 'viewing' });
  expect(await integration.waitFor((m) => m.type === 'error')).toMatchObject({ status: 400 });
  const after = await http(a, 'GET', `/api/v1/tickets/${ticketId}/presence`, { headers: acme.admin.headers });
  expect(after.body.data).toEqual([]);
});

it('agents online and away reach the tenant', async () => {
  // Users of their own: an agent whose earlier sockets' presence has not expired yet would not come online again.
  const team = await createTenant(a, 'Presence');
  const watcher = await live(b, team.admin.token);
  const agent = await live(a, team.agent.token);
  await watcher.waitFor((m) => m.type === 'agent_status' && m.user_id === team.agentId && m.status === 'online');
  agent.send({ type: 'status', status: 'away' });
  await watcher.waitFor((m) => m.type === 'agent_status' && m.user_id === team.agentId && m.status === 'away');
  agent.ws.terminate();
  await watcher.waitFor((m) => m.type === 'agent_status' && m.user_id === team.agentId && m.status === 'offline');
});

it("a node's Redis subscriber connection killed: it reconnects and its clients miss nothing", async () => {
  const c = await live(a, acme.agent.token);
  const before = await createTicket(acme, 'before the kill');
  await c.waitFor(isEventOf(before, 'ticket.created'));
  // Kill this run's live subscribers (by their connection name), not anyone else's, then publish at once: these land
  // while they are reconnecting, so pub/sub alone would lose them.
  const name = subscriberNameOf(a.redis);
  const list = (await a.redis.call('CLIENT', 'LIST', 'TYPE', 'pubsub')) as string;
  const ids = list
    .split('\n')
    .filter((line) => line.includes(` name=${name} `))
    .map((line) => /(?:^|\s)id=(\d+)/.exec(line)?.[1])
    .filter((id): id is string => Boolean(id));
  expect(ids.length).toBeGreaterThanOrEqual(1);
  for (const id of ids) await a.redis.call('CLIENT', 'KILL', 'ID', id);
  const during = Array.from({ length: 5 }, (): string => randomUUID());
  await flood(acme.id, during.length, 10, 'ticket.created', (n) => during[n]!);
  for (const id of during) await c.waitFor((m) => m.type === 'event' && m.event.data.ticket_id === id, 15_000);
  const seen = c.events().map((e) => e.event.data.ticket_id);
  expect(seen.filter((id) => during.includes(id as string))).toEqual(during); // each once, in order
});

it('an SLA escalation that notifies an agent reaches that agent whatever their queue filter, and no other filtered-out agent', async () => {
  const slaco = await createTenant(a, 'Slaco');
  const policy = await http(a, 'POST', '/api/v1/sla-policies', {
    headers: slaco.admin.headers,
    body: {
      position: 1,
      name: 'Notify fast',
      targets: { urgent: { first_reply: 4 / 60 } },
      escalation_rules: [{ id: 'tell-agent', trigger: { type: 'warning', percent: 50 }, actions: [{ type: 'notify', user_ids: [slaco.agentId] }] }],
    },
  });
  expect(policy.status).toBe(201);
  const addressed = await live(a, slaco.agent.token);
  const bystander = await live(b, slaco.admin.token);
  // Both look only at their own tickets; the new ticket is nobody's.
  for (const c of [addressed, bystander]) c.send({ type: 'subscribe', queue: { assignee_id: 'me' } });
  const res = await http(a, 'POST', '/api/v1/tickets', {
    headers: { ...slaco.headers, 'Idempotency-Key': randomUUID() },
    body: { subject: 'Urgent', description: 'escalates', customer_id: slaco.customerId, priority: 'urgent' },
  });
  expect(res.status).toBe(201);
  const escalated = await addressed.waitFor(isEventOf(res.body.id, 'sla.escalated'), 20_000);
  expect((escalated as unknown as { event: { data: { details: { notify: { user_ids: string[] } } } } }).event.data.details.notify.user_ids).toEqual([
    slaco.agentId,
  ]);
  await new Promise((r) => setTimeout(r, 300));
  expect(typesOf(bystander, res.body.id)).toEqual([]);
  expect(typesOf(addressed, res.body.id)).toEqual(['sla.escalated']); // the rest of the ticket stays out of the filter
});
