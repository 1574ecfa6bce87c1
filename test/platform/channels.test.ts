/**
 * Live events go out on a channel named with REDIS_KEY_PREFIX: ioredis prefixes keys but not pub/sub
 * channels, so two deployments (or test runs) sharing a Redis must not hear each other's tickets.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { createProjectionActivities } from '../../activities/projection';
import type { TicketEvent } from '../../domain/events';
import type { Ticket } from '../../domain/ticket';
import { liveChannel } from '../../platform/channels';
import type { LiveBusMessage } from '../../platform/live-bus';
import { createRedis } from '../../platform/redis';
import { createTenant, http, startStack, type Tenant, type TestStack } from '../support/stack';

let stack: TestStack;
let tenant: Tenant;
let subscriber: Redis;
const heard: { channel: string; ticketId: string; type: string }[] = [];

beforeAll(async () => {
  stack = await startStack();
  tenant = await createTenant(stack);
  // A bare client, as anything outside Deskflow would see the server: no prefix of its own.
  subscriber = new Redis(stack.config.REDIS_URL);
  subscriber.on('pmessage', (_pattern, channel: string, message: string) => {
    const m = JSON.parse(message) as LiveBusMessage;
    if (m.kind === 'event' && m.ticket) heard.push({ channel, ticketId: m.ticket.id, type: m.event.type });
  });
  await subscriber.psubscribe(`*live:${tenant.id}`);
});

afterAll(async () => {
  await subscriber.quit();
  await stack.close();
});

const settle = () => new Promise((resolve) => setTimeout(resolve, 300));
const channelsOf = (ticketId: string) => [...new Set(heard.filter((h) => h.ticketId === ticketId).map((h) => h.channel))];

async function waitFor<T>(probe: () => T | undefined, ms = 10_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error('timed out waiting for a live event');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

it("the worker publishes a ticket's events on the channel of the configured key prefix, and only there", async () => {
  const res = await http(stack, 'POST', '/api/v1/tickets', {
    headers: { ...tenant.headers, 'Idempotency-Key': randomUUID() },
    body: { subject: 'Live', description: 'heard on the prefixed channel', customer_id: tenant.customerId },
  });
  expect(res.status).toBe(201);
  const created = await waitFor(() => heard.find((h) => h.ticketId === res.body.id && h.type === 'ticket.created'));
  expect(created.channel).toBe(liveChannel(stack.config.REDIS_KEY_PREFIX, tenant.id));
  expect(created.channel.startsWith(stack.config.REDIS_KEY_PREFIX)).toBe(true);
  await settle();
  expect(channelsOf(res.body.id)).toEqual([liveChannel(stack.config.REDIS_KEY_PREFIX, tenant.id)]);
});

it('two key prefixes publish on two channels: a subscriber of one hears nothing of the other', async () => {
  const prefixes = [`deskflow-a-${randomUUID()}:`, `deskflow-b-${randomUUID()}:`];
  const clients = prefixes.map((prefix) => createRedis({ REDIS_URL: stack.config.REDIS_URL, REDIS_KEY_PREFIX: prefix }));
  // Each deployment's own subscriber, listening on its own channel only.
  const subscribers = prefixes.map(() => new Redis(stack.config.REDIS_URL));
  const received = prefixes.map(() => [] as string[]);
  try {
    await Promise.all(
      subscribers.map(async (s, i) => {
        s.on('message', (_channel: string, message: string) => {
          const m = JSON.parse(message) as LiveBusMessage;
          if (m.kind === 'event' && m.ticket) received[i]!.push(m.ticket.id);
        });
        await s.subscribe(liveChannel(prefixes[i]!, tenant.id));
      }),
    );
    const ticketIds = await Promise.all(clients.map((redis) => project(redis)));
    await waitFor(() => (received.every((r) => r.length > 0) ? true : undefined));
    await settle();
    expect(received).toEqual([[ticketIds[0]], [ticketIds[1]]]);
  } finally {
    await Promise.all([...clients, ...subscribers].map((c) => c.quit()));
  }
});

/** A new ticket written by the projection activity itself, publishing through `redis`. */
async function project(redis: Redis): Promise<string> {
  const now = new Date().toISOString();
  const id = randomUUID();
  const ticket: Ticket = {
    id,
    tenant_id: tenant.id,
    subject: 'Projected',
    description: 'straight through the activity',
    status: 'new',
    priority: 'normal',
    channel: 'api',
    customer_id: tenant.customerId,
    assignee_id: null,
    group_id: null,
    tags: [],
    version: 1,
    created_at: now,
    updated_at: now,
    first_agent_reply_at: null,
    solved_at: null,
    closed_at: null,
    sla: null,
  };
  const event: TicketEvent = {
    tenant_id: tenant.id,
    ticket_id: id,
    version: 1,
    type: 'ticket.created',
    actor: { type: 'system', id: 'channels-test' },
    changes: {},
    data: {},
    occurred_at: now,
  };
  await createProjectionActivities(stack.pool, redis).projectTicketChange({ ticket, events: [event] });
  return id;
}
