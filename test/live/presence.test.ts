/**
 * Presence on tickets and agent statuses (issue #11) against the run's Redis and a real API: what a touch shows (in
 * the store and over REST), expiry, typing expiring sooner, leaving, tenant isolation, and what is published on the
 * tenant's live channel (a change: one message; a refresh without change: none).
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Viewer } from '../../domain/live';
import { liveChannel } from '../../platform/channels';
import type { LiveBusMessage } from '../../platform/live-bus';
import { presenceStore } from '../../stores/presence';
import { createTenant, http, startStack, type Tenant, type TestStack } from '../support/stack';

let stack: TestStack;
let acme: Tenant;
let globex: Tenant;
let acmeTicket: string;
let globexTicket: string;
let subscriber: Redis;
const heard: Record<string, LiveBusMessage[]> = {};
const heardOn = (tenantId: string) => {
  heard[tenantId] ??= [];
  return heard[tenantId];
};
const markers = new Set<string>();

// Short TTLs so expiry can be watched; the API's own store (30 s) reads the same keys.
const TTL = 800;
const TYPING = 200;
const store = () => presenceStore(stack.redis, { ttlMs: TTL, typingTtlMs: TYPING });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const user = (name: string) => ({ id: randomUUID(), name });

async function openTicket(tenant: Tenant): Promise<string> {
  const res = await http(stack, 'POST', '/api/v1/tickets', {
    headers: tenant.headers,
    body: { subject: 's', description: 'd', customer_id: tenant.customerId },
  });
  expect(res.status).toBe(201);
  return res.body.id;
}

const overRest = async (tenant: Tenant, ticketId: string) =>
  http<{ data: Viewer[] }>(stack, 'GET', `/api/v1/tickets/${ticketId}/presence`, { headers: tenant.headers });

/**
 * Publishes a marker change (on a ticket of its own) and waits to hear it: messages on one channel arrive in order, so
 * everything published before has been heard too. Returns how many messages the tenant has heard by then.
 */
async function settle(tenantId: string): Promise<number> {
  const list = heardOn(tenantId);
  const marker = randomUUID();
  markers.add(marker);
  await store().touch(tenantId, marker, user('marker'), 'viewing');
  const deadline = Date.now() + 5000;
  for (;;) {
    const at = list.findIndex((m) => m.kind === 'presence' && m.ticket_id === marker);
    if (at >= 0) return at + 1;
    if (Date.now() > deadline) throw new Error('the marker was never heard');
    await sleep(10);
  }
}

/** The messages heard on the tenant's channel because of `act` (markers left out). */
async function publishedDuring(tenantId: string, act: () => Promise<unknown>): Promise<LiveBusMessage[]> {
  const from = await settle(tenantId);
  await act();
  const to = await settle(tenantId);
  return heardOn(tenantId)
    .slice(from, to)
    .filter((m) => !(m.kind === 'presence' && markers.has(m.ticket_id)));
}

beforeAll(async () => {
  stack = await startStack();
  acme = await createTenant(stack, 'Acme');
  globex = await createTenant(stack, 'Globex');
  [acmeTicket, globexTicket] = await Promise.all([openTicket(acme), openTicket(globex)]);
  subscriber = stack.redis.duplicate();
  await subscriber.subscribe(liveChannel(stack.config.REDIS_KEY_PREFIX, acme.id), liveChannel(stack.config.REDIS_KEY_PREFIX, globex.id));
  subscriber.on('message', (channel: string, message: string) => {
    const tenantId = channel.slice(liveChannel(stack.config.REDIS_KEY_PREFIX, '').length);
    heardOn(tenantId).push(JSON.parse(message));
  });
});

afterAll(async () => {
  subscriber?.disconnect();
  await stack?.close();
});

it('a touch shows in the viewers and over REST, with name, state and since; longest there first', async () => {
  const presence = store();
  const ada = user('Ada');
  const bob = user('Bob');
  const before = Date.now();
  const afterAda = await presence.touch(acme.id, acmeTicket, ada, 'viewing');
  expect(afterAda).toEqual([{ user_id: ada.id, name: 'Ada', state: 'viewing', since: expect.any(String) }]);
  expect(Date.parse(afterAda[0]!.since)).toBeGreaterThanOrEqual(before);
  await sleep(5);
  await presence.touch(acme.id, acmeTicket, bob, 'replying');

  const expected = [
    { user_id: ada.id, name: 'Ada', state: 'viewing', since: afterAda[0]!.since },
    { user_id: bob.id, name: 'Bob', state: 'replying', since: expect.any(String) },
  ];
  expect(await presence.viewers(acme.id, acmeTicket)).toEqual(expected);
  const rest = await overRest(acme, acmeTicket);
  expect(rest.status).toBe(200);
  expect(rest.body.data).toEqual(expected);

  await Promise.all([presence.leave(acme.id, acmeTicket, ada.id), presence.leave(acme.id, acmeTicket, bob.id)]);
});

it('one state per user per ticket: a new state replaces the old and restarts since; the same state keeps it', async () => {
  const presence = store();
  const ada = user('Ada');
  const ticket = randomUUID();
  const [first] = await presence.touch(acme.id, ticket, ada, 'viewing');
  await sleep(10);
  const [refreshed] = await presence.touch(acme.id, ticket, ada, 'viewing');
  expect(refreshed).toEqual(first);
  await sleep(10);
  const after = await presence.touch(acme.id, ticket, ada, 'replying');
  expect(after).toHaveLength(1);
  expect(after[0]).toMatchObject({ user_id: ada.id, state: 'replying' });
  expect(Date.parse(after[0]!.since)).toBeGreaterThan(Date.parse(first!.since));
});

it('a viewer not heard from for the TTL is gone, in the store and over REST, and its keys expire', async () => {
  const presence = store();
  const ada = user('Ada');
  await presence.touch(acme.id, acmeTicket, ada, 'viewing');
  expect((await overRest(acme, acmeTicket)).body.data.map((v) => v.user_id)).toEqual([ada.id]);
  const key = `presence:${acme.id}:ticket:${acmeTicket}`;
  const pttl = await stack.redis.pttl(key);
  expect(pttl).toBeGreaterThan(0);
  expect(pttl).toBeLessThanOrEqual(TTL + 1000);
  expect(await stack.redis.pttl(`${key}:state`)).toBeGreaterThan(0);

  // Refreshing keeps it past the first TTL.
  await sleep(TTL * 0.6);
  await presence.touch(acme.id, acmeTicket, ada, 'viewing');
  await sleep(TTL * 0.6);
  expect((await presence.viewers(acme.id, acmeTicket)).map((v) => v.user_id)).toEqual([ada.id]);

  await sleep(TTL);
  expect(await presence.viewers(acme.id, acmeTicket)).toEqual([]);
  expect((await overRest(acme, acmeTicket)).body.data).toEqual([]);
  // Emptied on read: nothing is left behind.
  expect(await stack.redis.exists(key, `${key}:state`)).toBe(0);
});

it('keys left alone expire on their own', async () => {
  const presence = store();
  const ticket = randomUUID();
  await presence.touch(acme.id, ticket, user('Ada'), 'typing');
  const key = `presence:${acme.id}:ticket:${ticket}`;
  expect(await stack.redis.exists(key, `${key}:state`)).toBe(2);
  await sleep(TYPING + 1000 + 200);
  expect(await stack.redis.exists(key, `${key}:state`)).toBe(0);
});

it('typing expires sooner than viewing', async () => {
  const presence = store();
  const ada = user('Ada');
  const bob = user('Bob');
  const ticket = randomUUID();
  await presence.touch(acme.id, ticket, ada, 'viewing');
  await presence.touch(acme.id, ticket, bob, 'typing');
  expect((await presence.viewers(acme.id, ticket)).map((v) => v.state).sort()).toEqual(['typing', 'viewing']);
  await sleep(TYPING + 100);
  expect((await presence.viewers(acme.id, ticket)).map((v) => [v.user_id, v.state])).toEqual([[ada.id, 'viewing']]);
  // A typist who stops typing but stays on the ticket says so: back to the longer TTL.
  await presence.touch(acme.id, ticket, ada, 'viewing');
  await presence.touch(acme.id, ticket, bob, 'typing');
  await presence.touch(acme.id, ticket, bob, 'viewing');
  await sleep(TYPING + 100);
  expect((await presence.viewers(acme.id, ticket)).map((v) => v.user_id).sort()).toEqual([ada.id, bob.id].sort());
});

it('leave removes at once (and the last one leaving removes the keys)', async () => {
  const presence = store();
  const ada = user('Ada');
  const bob = user('Bob');
  await presence.touch(acme.id, acmeTicket, ada, 'viewing');
  await presence.touch(acme.id, acmeTicket, bob, 'viewing');
  const left = await presence.leave(acme.id, acmeTicket, ada.id);
  expect(left.map((v) => v.user_id)).toEqual([bob.id]);
  expect((await overRest(acme, acmeTicket)).body.data.map((v) => v.user_id)).toEqual([bob.id]);
  expect(await presence.leave(acme.id, acmeTicket, bob.id)).toEqual([]);
  const key = `presence:${acme.id}:ticket:${acmeTicket}`;
  expect(await stack.redis.exists(key, `${key}:state`)).toBe(0);
});

it("another tenant's ticket id is a 404, and tenant B never sees tenant A's presence", async () => {
  const presence = store();
  const ada = user('Ada');
  await presence.touch(acme.id, acmeTicket, ada, 'viewing');

  const foreign = await overRest(globex, acmeTicket);
  expect(foreign.status).toBe(404);
  expect(JSON.stringify(foreign.body)).not.toContain(ada.id);
  // Even asked directly with A's ticket id, B's presence is its own.
  expect(await presence.viewers(globex.id, acmeTicket)).toEqual([]);
  const own = await overRest(globex, globexTicket);
  expect(own.status).toBe(200);
  expect(own.body.data).toEqual([]);
  expect((await overRest(acme, randomUUID())).status).toBe(404);

  await presence.leave(acme.id, acmeTicket, ada.id);
});

it('a change publishes the viewers on the tenant channel; a refresh without change publishes nothing', async () => {
  const presence = store();
  // Quotes and non-ASCII survive the round trip through the script, and compare equal on a refresh.
  const ada = user('Ädä "the" 😀');
  const bob = user('Bob');
  const ticket = randomUUID();
  // This ticket's messages only (the live server's sweeper announces other tests' expiries on the same channel).
  const publishedOnTicket = async (act: () => Promise<unknown>) =>
    (await publishedDuring(acme.id, act)).filter((m) => m.kind === 'presence' && m.ticket_id === ticket);

  const joined = await publishedOnTicket(() => presence.touch(acme.id, ticket, ada, 'viewing'));
  expect(joined).toEqual([
    { kind: 'presence', ticket_id: ticket, viewers: [{ user_id: ada.id, name: ada.name, state: 'viewing', since: expect.any(String) }] },
  ]);

  expect(await publishedOnTicket(() => presence.touch(acme.id, ticket, ada, 'viewing'))).toEqual([]);
  expect(await publishedOnTicket(() => presence.viewers(acme.id, ticket))).toEqual([]);

  const typing = await publishedOnTicket(() => presence.touch(acme.id, ticket, ada, 'typing'));
  expect(typing).toEqual([{ kind: 'presence', ticket_id: ticket, viewers: [expect.objectContaining({ user_id: ada.id, state: 'typing' })] }]);

  const second = await publishedOnTicket(() => presence.touch(acme.id, ticket, bob, 'viewing'));
  expect(second).toHaveLength(1);
  expect((second[0] as { viewers: Viewer[] }).viewers.map((v) => v.user_id)).toEqual([ada.id, bob.id]);

  // Globex heard none of it.
  expect((heard[globex.id] ?? []).filter((m) => m.kind === 'presence' && m.ticket_id === ticket)).toEqual([]);

  const left = await publishedOnTicket(() => presence.leave(acme.id, ticket, bob.id));
  expect(left).toEqual([{ kind: 'presence', ticket_id: ticket, viewers: [expect.objectContaining({ user_id: ada.id })] }]);
  // Leaving a ticket one is not on changes nothing.
  expect(await publishedOnTicket(() => presence.leave(acme.id, ticket, bob.id))).toEqual([]);

  // Ada's typing lapses: the next read (or the live server's sweeper, whichever comes first) removes her and says so, once.
  const expired = await publishedOnTicket(async () => {
    await sleep(TYPING + 50);
    await presence.viewers(acme.id, ticket);
  });
  expect(expired).toEqual([{ kind: 'presence', ticket_id: ticket, viewers: [] }]);
});

it('sweep announces viewers who vanished without leaving, once', async () => {
  const presence = store();
  const ada = user('Ada');
  const ticket = randomUUID();
  await presence.touch(acme.id, ticket, ada, 'viewing');
  // (The stack's live server sweeps every second too: a third sweeper racing these two.)
  const swept = await publishedDuring(acme.id, async () => {
    await sleep(TTL + 50);
    await Promise.all([presence.sweep(), presence.sweep()]); // two nodes at once: still one message
  });
  expect(swept.filter((m) => m.kind === 'presence' && m.ticket_id === ticket)).toEqual([{ kind: 'presence', ticket_id: ticket, viewers: [] }]);
  expect(await stack.redis.zscore('presence:due', `t:${acme.id}:${ticket}`)).toBeNull();
});

it('agent status: online → away → expires to offline, each change published once', async () => {
  const presence = store();
  const ada = randomUUID();
  const bob = randomUUID();

  const online = await publishedDuring(acme.id, () => presence.setStatus(acme.id, ada, 'online', TTL));
  expect(online).toEqual([{ kind: 'agent_status', user_id: ada, status: 'online' }]);
  expect(await presence.statuses(acme.id)).toEqual([{ user_id: ada, status: 'online' }]);
  expect(await presence.statuses(globex.id)).toEqual([]);

  expect(await publishedDuring(acme.id, () => presence.setStatus(acme.id, ada, 'online', TTL))).toEqual([]);

  const away = await publishedDuring(acme.id, () => presence.setStatus(acme.id, ada, 'away', TTL));
  expect(away).toEqual([{ kind: 'agent_status', user_id: ada, status: 'away' }]);
  await presence.setStatus(acme.id, bob, 'online', 60_000);
  expect(await presence.statuses(acme.id)).toEqual(
    [
      { user_id: ada, status: 'away' },
      { user_id: bob, status: 'online' },
    ].sort((a, b) => a.user_id.localeCompare(b.user_id)),
  );

  // The stack's live server sweeps every second too: whoever notices the expiry first publishes it, once.
  const expired = await publishedDuring(acme.id, async () => {
    await sleep(TTL + 50);
    await presence.statuses(acme.id);
  });
  expect(expired).toEqual([{ kind: 'agent_status', user_id: ada, status: 'offline' }]);
  expect(await presence.statuses(acme.id)).toEqual([{ user_id: bob, status: 'online' }]);

  // Back after expiring: a change from offline. Saying offline ends it at once.
  expect(await publishedDuring(acme.id, () => presence.setStatus(acme.id, ada, 'online', TTL))).toEqual([
    { kind: 'agent_status', user_id: ada, status: 'online' },
  ]);
  expect(await publishedDuring(acme.id, () => presence.setStatus(acme.id, bob, 'offline', TTL))).toEqual([
    { kind: 'agent_status', user_id: bob, status: 'offline' },
  ]);
  expect(await presence.statuses(acme.id)).toEqual([{ user_id: ada, status: 'online' }]);
  expect((heard[globex.id] ?? []).filter((m) => m.kind === 'agent_status')).toEqual([]);
});
