/**
 * The console's live client (console/js/live-client.js) in Node, with the `ws` package, against the real API's
 * `/api/v1/live`, PostgreSQL, Redis, Temporal and worker: first-message auth, events as webhook envelopes, a dropped
 * connection resumed from the last event id (exactly the missed events, none twice), a resync when that id is no
 * longer kept, credential failures that stop it, and a renew before the access token expires.
 */
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import WebSocket from 'ws';
import { LIVE_CLOSE, LiveClient, type LiveClientOptions, type LiveEnvelope, type LiveState, type StatusDetail } from '../../console/js/live-client.js';
import { createTenant, http, login, startStack, type Tenant, type TestStack } from '../support/stack';
import { eventually } from '../webhooks/support';

let stack: TestStack;
let acme: Tenant;
const clients: LiveClient[] = [];

beforeAll(async () => {
  stack = await startStack();
  acme = await createTenant(stack, 'Acme');
});
afterAll(async () => {
  for (const c of clients) c.close();
  await stack?.close();
});

const liveUrl = (s: { url: string }) => `${s.url.replace(/^http/, 'ws')}/api/v1/live`;

/** A client that records what it is told, with the sockets it opened (a test can cut one like a network would). */
function open(options: Partial<LiveClientOptions> & { token: LiveClientOptions['token'] }, s: { url: string } = stack) {
  const sockets: WebSocket[] = [];
  class Recorded extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols);
      sockets.push(this);
    }
  }
  const events: { id: string; event: LiveEnvelope }[] = [];
  const states: { state: LiveState; detail: StatusDetail }[] = [];
  const resyncs: unknown[] = [];
  const errors: Error[] = [];
  const client = new LiveClient({
    url: liveUrl(s),
    WebSocket: Recorded,
    backoff: { initialMs: 50, maxMs: 400 },
    onEvent: (event, id) => events.push({ id, event }),
    onStatus: (state, detail) => states.push({ state, detail }),
    onResync: (message) => resyncs.push(message),
    onError: (err) => errors.push(err),
    ...options,
  });
  clients.push(client);
  const readyCount = () => states.filter((s) => s.state === 'open').length;
  return { client, sockets, events, states, resyncs, errors, readyCount };
}

async function until<T>(fn: () => T, ok: (v: T) => boolean, what: string, timeoutMs = 20_000): Promise<T> {
  const value = await eventually(fn, ok, timeoutMs);
  if (!ok(value)) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value)}`);
  return value;
}

async function createTicket(t: Tenant, subject: string, headers = t.headers) {
  const res = await http(stack, 'POST', '/api/v1/tickets', {
    headers: { ...headers, 'Idempotency-Key': randomUUID() },
    body: { subject, description: 'Sent by the live client test.', customer_id: t.customerId, assignee_id: t.agentId },
  });
  if (res.status !== 201) throw new Error(`cannot create a ticket: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as { id: string; version: number };
}

const ticketIdOf = (e: { event: LiveEnvelope }) => (e.event.data.ticket as { id: string } | undefined)?.id;

it('authenticates with its first message and receives a created ticket as its webhook envelope', async () => {
  const a = open({ token: () => acme.agent.token });
  await until(a.readyCount, (n) => n === 1, 'ready');
  expect(a.client.state).toBe('open');
  expect(a.client.session).toMatchObject({ type: 'ready', user_id: acme.agent.id, tenant_id: acme.id });
  // First-message auth: the token went in a frame, not in the URL or a header.
  expect(a.sockets).toHaveLength(1);
  expect(a.sockets[0]!.url).toBe(liveUrl(stack));

  const ticket = await createTicket(acme, 'Printer on fire');
  const got = await until(() => a.events.find((e) => e.event.type === 'ticket.created' && ticketIdOf(e) === ticket.id), Boolean, 'ticket.created');
  expect(got!.id).toMatch(/^\d+-\d+$/);
  expect(got!.event).toMatchObject({
    type: 'ticket.created',
    timestamp: expect.any(String),
    data: { ticket_id: ticket.id, ticket: { id: ticket.id, subject: 'Printer on fire', status: 'new', assignee_id: acme.agentId } },
  });
  expect(a.client.lastEventId).toBe(a.events.at(-1)!.id);
  expect(a.errors).toEqual([]);
});

it('after a dropped connection it reconnects and resumes: exactly the events it missed, none twice, then live again', async () => {
  // The observer stays connected throughout: what it receives is the truth to compare with.
  const observer = open({ token: () => acme.agent.token });
  let gate: Promise<void> = Promise.resolve();
  let release: () => void = () => undefined;
  const a = open({
    token: async () => {
      await gate; // held while the test makes changes the client must miss
      return acme.agent.token;
    },
  });
  await until(
    () => [a.readyCount(), observer.readyCount()],
    ([x, y]) => x === 1 && y === 1,
    'both ready',
  );
  const warmup = await createTicket(acme, 'Before the drop');
  await until(() => [a, observer].every((c) => c.events.some((e) => ticketIdOf(e) === warmup.id)), Boolean, 'the warm-up event on both');
  const before = a.events.length;
  const resumeFrom = a.client.lastEventId!;
  expect(resumeFrom).toBe(observer.client.lastEventId);

  // Cut the connection the way a network does (no close frame) while the next connection is held back.
  gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  a.sockets[0]!.terminate();
  await until(
    () => a.client.state,
    (s) => s === 'reconnecting',
    'reconnecting',
  );

  const missedTickets = [await createTicket(acme, 'Missed one'), await createTicket(acme, 'Missed two')];
  const patched = await http(stack, 'PATCH', `/api/v1/tickets/${missedTickets[0]!.id}`, { headers: acme.headers, body: { priority: 'urgent' } });
  expect(patched.status).toBe(200);
  // Every change has been published (the observer has it) before the client comes back.
  const missed = await until(
    () => observer.events.filter((e) => compareIds(e.id, resumeFrom) > 0),
    (list) =>
      missedTickets.every((t) => list.some((e) => e.event.type === 'ticket.created' && ticketIdOf(e) === t.id)) &&
      list.some((e) => e.event.type === 'ticket.updated' && ticketIdOf(e) === missedTickets[0]!.id),
    'the observer to see the missed changes',
  );
  expect(a.events).toHaveLength(before);

  release();
  await until(a.readyCount, (n) => n === 2, 'the second ready');
  expect(a.sockets).toHaveLength(2);
  await until(
    () => a.events.length - before,
    (n) => n >= missed.length,
    'the resumed events',
  );
  const resumed = a.events.slice(before);
  // Exactly the observer's events after the resume point, in order, with the same ids and bodies.
  expect(resumed.map((e) => e.id)).toEqual(missed.map((e) => e.id));
  expect(resumed.map((e) => e.event)).toEqual(missed.map((e) => e.event));
  expect(new Set(a.events.map((e) => e.id)).size).toBe(a.events.length);
  expect(a.resyncs).toEqual([]);

  // And live again.
  const after = await createTicket(acme, 'After the resume');
  const live = await until(() => a.events.find((e) => e.event.type === 'ticket.created' && ticketIdOf(e) === after.id), Boolean, 'a live event after resuming');
  await until(
    () => observer.client.lastEventId,
    (id) => id !== null && compareIds(id, live!.id) >= 0,
    'the observer to catch up',
  );
  // Over the whole test the two saw the same sequence (from the client's first event to the last one compared).
  const first = a.events[0]!.id;
  const inRange = (e: { id: string }) => compareIds(e.id, first) >= 0 && compareIds(e.id, live!.id) <= 0;
  expect(a.events.filter(inRange).map((e) => e.id)).toEqual(observer.events.filter(inRange).map((e) => e.id));
  expect(a.errors).toEqual([]);
});

/** Stream ids (`<ms>-<seq>`) in order. */
function compareIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am - bm || as - bs;
}

it('asks for a resync when the id it resumes from is no longer kept, then carries on live', async () => {
  const a = open({ token: () => acme.agent.token, lastEventId: '1-0' });
  await until(
    () => a.resyncs.length,
    (n) => n === 1,
    'resync',
  );
  expect(a.resyncs[0]).toMatchObject({ type: 'resync', reason: expect.stringMatching(/^(gap|unknown_id)$/) });
  await until(a.readyCount, (n) => n >= 1, 'ready');
  const ticket = await createTicket(acme, 'After a resync');
  await until(() => a.events.some((e) => ticketIdOf(e) === ticket.id), Boolean, 'a live event after the resync');
  expect(a.client.lastEventId).not.toBe('1-0');
});

it('stops, and says why, when its credential is refused (no retry with the same credential)', async () => {
  const bad = open({ token: () => 'not-a-token' });
  await until(
    () => bad.client.state,
    (s) => s === 'stopped',
    'stopped',
  );
  expect(bad.states.at(-1)).toMatchObject({ state: 'stopped', detail: { code: LIVE_CLOSE.unauthenticated } });
  expect(bad.sockets).toHaveLength(1);

  // A signed-out session's token: revoked (or unauthenticated) at once, and also final.
  const { token } = await login(stack, acme.admin.email, acme.admin.password);
  const loggedOut = await http(stack, 'POST', '/api/v1/auth/logout', { headers: { Authorization: `Bearer ${token}` } });
  expect(loggedOut.status).toBe(204);
  const revoked = open({ token: () => token });
  await until(
    () => revoked.client.state,
    (s) => s === 'stopped',
    'stopped',
  );
  expect([LIVE_CLOSE.unauthenticated, LIVE_CLOSE.revoked]).toContain(revoked.states.at(-1)!.detail.code);
  expect(revoked.sockets).toHaveLength(1);
  // The backoff (50 ms) has passed many times over: still no second attempt.
  await new Promise((r) => setTimeout(r, 500));
  expect(bad.sockets).toHaveLength(1);
  expect(revoked.sockets).toHaveLength(1);
});

it('shares presence: another client on the same ticket sees who is viewing it, and when they leave', async () => {
  const ticket = await createTicket(acme, 'Presence please');
  const seen: { ticketId: string; viewers: { user_id: string; name: string; state: string }[] }[] = [];
  const watcher = open({ token: () => acme.agent.token, onPresence: (ticketId, viewers) => seen.push({ ticketId, viewers }) });
  const viewer = open({ token: () => acme.admin.token });
  await until(
    () => [watcher.readyCount(), viewer.readyCount()],
    ([x, y]) => x === 1 && y === 1,
    'both ready',
  );
  watcher.client.subscribe(undefined, [ticket.id]);
  viewer.client.presence(ticket.id, 'viewing');
  const withAdmin = await until(
    () => seen.filter((p) => p.ticketId === ticket.id).at(-1),
    (p) => Boolean(p?.viewers.some((v) => v.user_id === acme.admin.id)),
    'the admin viewing',
  );
  expect(withAdmin!.viewers.find((v) => v.user_id === acme.admin.id)).toMatchObject({ name: 'Acme admin', state: 'viewing' });

  viewer.client.presence(ticket.id, 'left');
  await until(
    () => seen.filter((p) => p.ticketId === ticket.id).at(-1),
    (p) => Boolean(p && !p.viewers.some((v) => v.user_id === acme.admin.id)),
    'the admin gone',
  );
});

describe('with short-lived access tokens', () => {
  let short: TestStack;
  beforeAll(async () => {
    short = await startStack({ ACCESS_TOKEN_TTL: '6s' });
  });
  afterAll(() => short?.close());

  it('renews before the token expires and stays connected past its expiry', async () => {
    const tokens: string[] = [];
    const a = open(
      {
        token: async () => {
          tokens.push((await login(short, acme.agent.email, acme.agent.password)).token);
          return tokens.at(-1)!;
        },
      },
      short,
    );
    await until(a.readyCount, (n) => n === 1, 'ready');
    const expiresAt = Date.parse(a.client.session!.token_expires_at!);
    expect(expiresAt - Date.now()).toBeLessThan(7000);
    await until(
      () => tokens.length,
      (n) => n >= 2,
      'a renew',
      10_000,
    );
    // Past the first token's expiry, still the same connection, and events still arrive.
    await until(
      () => Date.now(),
      (now) => now > expiresAt + 1500,
      'the first token to expire',
      10_000,
    );
    expect(a.sockets).toHaveLength(1);
    expect(a.client.state).toBe('open');
    const { token } = await login(short, acme.agent.email, acme.agent.password);
    const res = await http(short, 'POST', '/api/v1/tickets', {
      headers: { Authorization: `Bearer ${token}`, 'Idempotency-Key': randomUUID() },
      body: { subject: 'After a renew', description: 'x', customer_id: acme.customerId },
    });
    expect(res.status).toBe(201);
    await until(() => a.events.some((e) => ticketIdOf(e) === res.body.id), Boolean, 'an event after the renew');
    expect(a.errors).toEqual([]);
  });
});

describe('a draining node', () => {
  let nodeA: TestStack;
  let nodeB: TestStack;
  let balancer: net.Server;
  let upstream: TestStack;
  const pipes = new Set<net.Socket>();

  beforeAll(async () => {
    [nodeA, nodeB] = [await startStack(), await startStack()];
    upstream = nodeA;
    // A load balancer in front of the two nodes: new connections go to `upstream`.
    balancer = net.createServer((client) => {
      const server = net.connect(Number(new URL(upstream.url).port), '127.0.0.1');
      for (const s of [client, server]) {
        pipes.add(s);
        s.on('close', () => pipes.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(server).pipe(client);
    });
    await new Promise<void>((resolve) => balancer.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    for (const s of pipes) s.destroy();
    await new Promise((resolve) => balancer?.close(resolve));
    await Promise.all([nodeA?.close(), nodeB?.close()]);
  });

  it('is left at once (not after the backoff) for another node, resuming with nothing missed or repeated', async () => {
    const via = { url: `http://127.0.0.1:${(balancer.address() as net.AddressInfo).port}` };
    // A backoff this long would show: a drain must not wait for it.
    const a = open({ token: () => acme.agent.token, backoff: { initialMs: 20_000, maxMs: 20_000 } }, via);
    await until(a.readyCount, (n) => n === 1, 'ready on node A');
    const before = await createTicket(acme, 'Before the drain');
    await until(() => a.events.some((e) => ticketIdOf(e) === before.id), Boolean, 'an event from node A');

    upstream = nodeB;
    const started = Date.now();
    const draining = nodeA.live.drain(5000);
    const during = await createTicket(acme, 'During the drain');
    await until(a.readyCount, (n) => n === 2, 'ready on node B', 5000);
    expect(Date.now() - started).toBeLessThan(5000);
    await draining;
    expect(nodeA.live.connections()).toBe(0);
    expect(nodeB.live.connections()).toBe(1);
    expect(a.states.map((s) => s.state)).toContain('reconnecting');
    expect(a.states.find((s) => s.state === 'reconnecting')!.detail.delayMs).toBe(0);

    const after = await createTicket(acme, 'After the drain');
    await until(() => a.events.some((e) => ticketIdOf(e) === after.id), Boolean, 'an event from node B');
    for (const t of [before, during, after]) {
      expect(a.events.filter((e) => e.event.type === 'ticket.created' && ticketIdOf(e) === t.id)).toHaveLength(1);
    }
    expect(new Set(a.events.map((e) => e.id)).size).toBe(a.events.length);
    expect(a.resyncs).toEqual([]);
  });
});
