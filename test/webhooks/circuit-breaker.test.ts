/**
 * The per-endpoint circuit breaker against real loopback receivers and a real worker process: it opens
 * after the failure threshold, holds deliveries without spending their retries, probes once after the
 * cool-down (reopening with a longer one when the probe fails), closes when the receiver recovers and then
 * delivers what it held; repeated trips disable the endpoint and open exactly one internal ticket. Another
 * tenant's endpoint is delivered meanwhile. Also: the per-endpoint concurrency cap holds for a slow receiver.
 *
 * The suite runs on a database, task queues and workers of its own, so that only its workers (with short
 * breaker settings) make attempts on its deliveries. Two worker processes race for the breaker tests (one
 * trip per burst, one probe at a time across processes); the concurrency test, a per-process cap, uses one.
 */
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { WEBHOOK_INCIDENT_TAG, webhookCircuitBreaker, breakerSettingsOf, webhookSystemCustomerIdOf } from '../../activities/webhook-circuit-breaker';
import { liveChannel } from '../../platform/channels';
import { dropDatabase } from '../../platform/db';
import { createFieldCrypto } from '../../platform/field-crypto';
import { ownDatabaseEnv } from '../support/own-database';
import { runTs, startWorkerProcess, stopProcess } from '../support/processes';
import { createTenant, http, startStack, type Tenant, type TestStack } from '../support/stack';
import { eventually, type Receiver, seedDelivery, seedEndpoint, startReceiver } from './support';

const suffix = randomUUID().slice(0, 8);
const env: NodeJS.ProcessEnv = {
  ...process.env,
  ...ownDatabaseEnv(`breaker_${suffix}`),
  TEMPORAL_TASK_QUEUE: `breaker-tickets-${suffix}`,
  TEMPORAL_WEBHOOK_TASK_QUEUE: `breaker-webhooks-${suffix}`,
  // Trips after 4 attempts of which ≥ 70 % failed; 4 s cool-down, then 8 s; the third trip disables.
  WEBHOOK_BREAKER_MIN_ATTEMPTS: '4',
  WEBHOOK_BREAKER_FAILURE_RATE: '0.7',
  WEBHOOK_BREAKER_WINDOW: '1m',
  WEBHOOK_BREAKER_COOLDOWN: '4s',
  WEBHOOK_BREAKER_MAX_COOLDOWN: '1m',
  WEBHOOK_BREAKER_TRIPS_TO_DISABLE: '3',
  // Plenty of quick retries: the breaker, not the retry budget, decides here.
  WEBHOOK_MAX_RETRIES: '30',
  WEBHOOK_RETRY_BASE_DELAY: '300ms',
  WEBHOOK_RETRY_MAX_DELAY: '1s',
  WEBHOOK_DISPATCH_INTERVAL: '100ms',
  WEBHOOK_ENDPOINT_CONCURRENCY: '2',
};

let stack: TestStack;
const workers: ChildProcess[] = [];
let acme: Tenant;
let globex: Tenant;
const receivers: Receiver[] = [];
const servers: Server[] = [];
const subscriber = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { lazyConnect: true });
const live: Record<string, unknown>[] = [];

beforeAll(async () => {
  runTs('platform/cli/migrate.ts', env);
  stack = await startStack(env);
  workers.push(...(await Promise.all([startWorkerProcess(env), startWorkerProcess(env)])));
  acme = await createTenant(stack, 'Acme');
  globex = await createTenant(stack, 'Globex');
  await subscriber.connect();
  await subscriber.subscribe(liveChannel(stack.config.REDIS_KEY_PREFIX, acme.id));
  subscriber.on('message', (_channel, message) => {
    // Admin notices on the live bus: `{kind, id, audience, event: {type, timestamp, data}}`, flattened here.
    const m = JSON.parse(message);
    if (m.audience === 'admins') live.push({ type: m.event.type, ...m.event.data });
  });
}, 120_000);
afterAll(async () => {
  subscriber.disconnect();
  await Promise.all(workers.map((w) => stopProcess(w)));
  await Promise.all(receivers.map((r) => r.close()));
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  await stack?.close();
  await dropDatabase(env.DATABASE_ADMIN_URL!);
});

async function receiver(answer?: Receiver['answer']) {
  const r = await startReceiver(answer);
  receivers.push(r);
  return r;
}

const endpointOf = async (tenant: Tenant, id: string) => {
  const res = await http(stack, 'GET', `/api/v1/webhook-endpoints/${id}`, { headers: tenant.admin.headers });
  expect(res.status).toBe(200);
  return res.body;
};
const rowsOf = async (ids: string[]) =>
  (
    await stack.admin.query<{ id: string; status: string; attempts: number }>(
      'SELECT id, status, attempts FROM webhook_deliveries WHERE id = ANY($1) ORDER BY event_seq',
      [ids],
    )
  ).rows;
const idOf = (r: { headers: Record<string, unknown> }) => String(r.headers['webhook-id']).slice('msg_'.length);

it('opens after the failure threshold, holds without spending retries, probes after the cool-down, closes and delivers what it held', async () => {
  let failing = true;
  const r = await receiver(() => ({ status: failing ? 503 : 200 }));
  const endpoint = await seedEndpoint(stack, acme.id, r.url);
  r.secrets = [endpoint.secret];
  const early: { id: string }[] = [];
  for (let i = 0; i < 3; i++) early.push(await seedDelivery(stack, acme.id, endpoint.id));

  // 1. Opens: ≥ 4 attempts, all failed.
  const opened = await eventually(
    () => endpointOf(acme, endpoint.id),
    (e) => e.circuit.state !== 'closed',
    30_000,
  );
  expect(opened.circuit).toMatchObject({ state: 'open', trips: 1 });
  expect(opened.enabled).toBe(true);
  const firstRetryAt = Date.parse(opened.circuit.retry_at);

  // 2. Holds: deliveries made now are held with no attempt spent, and the retrying ones are held too.
  const late = [await seedDelivery(stack, acme.id, endpoint.id), await seedDelivery(stack, acme.id, endpoint.id)];
  const allIds = [...early, ...late].map((d) => d.id);
  const held = await eventually(
    () => rowsOf(allIds),
    (rows) => rows.every((x) => x.status === 'held'),
    30_000,
  );
  expect(held.map((x) => x.status)).toEqual(['held', 'held', 'held', 'held', 'held']);
  expect(held.slice(3).map((x) => x.attempts)).toEqual([0, 0]);
  const heldAttempts = new Map(held.map((x) => [x.id, x.attempts]));
  const beforeProbe = r.received.length;
  // Taken while still open in its first cool-down: from here the next request is the probe.
  expect((await endpointOf(acme, endpoint.id)).circuit).toMatchObject({ state: 'open', trips: 1 });

  // Another tenant's endpoint is delivered while this breaker is open.
  const other = await receiver(() => ({ status: 200 }));
  const otherEndpoint = await seedEndpoint(stack, globex.id, other.url);
  other.secrets = [otherEndpoint.secret];
  const otherDeliveries = [await seedDelivery(stack, globex.id, otherEndpoint.id), await seedDelivery(stack, globex.id, otherEndpoint.id)];
  const otherRows = await eventually(
    () => rowsOf(otherDeliveries.map((d) => d.id)),
    (rows) => rows.every((x) => x.status === 'delivered'),
  );
  expect(otherRows.map((x) => [x.status, x.attempts])).toEqual([
    ['delivered', 1],
    ['delivered', 1],
  ]);
  expect(other.problems).toEqual([]);
  expect((await endpointOf(acme, endpoint.id)).circuit.state).not.toBe('closed');

  // 3. After the cool-down exactly one request, the probe (the oldest held delivery); it fails: open again, twice as long.
  const reopened = await eventually(
    () => endpointOf(acme, endpoint.id),
    (e) => e.circuit.trips === 2,
    30_000,
  );
  expect(reopened.circuit.state).toBe('open');
  expect(r.received.length).toBe(beforeProbe + 1);
  const probe = r.received[beforeProbe]!;
  expect(probe.at).toBeGreaterThanOrEqual(firstRetryAt);
  expect(idOf(probe)).toBe(early[0]!.id);
  const cooldowns = await stack.admin.query<{ seconds: number }>(
    'SELECT extract(epoch FROM breaker_retry_at - breaker_opened_at)::float8 AS seconds FROM webhook_endpoints WHERE id = $1',
    [endpoint.id],
  );
  expect(cooldowns.rows[0]!.seconds).toBe(8);

  // 4. The receiver recovers: the next probe succeeds, the breaker closes and everything held is delivered.
  failing = false;
  const closed = await eventually(
    () => endpointOf(acme, endpoint.id),
    (e) => e.circuit.state === 'closed',
    40_000,
  );
  expect(closed.circuit).toEqual({ state: 'closed', trips: 0, retry_at: null });
  const delivered = await eventually(
    () => rowsOf(allIds),
    (rows) => rows.every((x) => x.status === 'delivered'),
    30_000,
  );
  expect(delivered.map((x) => x.status)).toEqual(['delivered', 'delivered', 'delivered', 'delivered', 'delivered']);
  // Holding spent nothing: the late ones were attempted once; the early ones once more than when held (the probe twice more).
  expect(delivered.slice(3).map((x) => x.attempts)).toEqual([1, 1]);
  expect(delivered.slice(1, 3).map((x) => x.attempts - heldAttempts.get(x.id)!)).toEqual([1, 1]);
  expect(delivered[0]!.attempts - heldAttempts.get(delivered[0]!.id)!).toBe(2);
  for (const d of late) {
    const got = r.received.filter((x) => idOf(x) === d.id);
    expect(got).toHaveLength(1);
    expect(got[0]!.at).toBeGreaterThanOrEqual(firstRetryAt);
  }
  // Every request is in the log, and only requests are.
  const logged = await stack.admin.query<{ n: number }>('SELECT count(*)::int AS n FROM webhook_attempts WHERE endpoint_id = $1', [endpoint.id]);
  expect(logged.rows[0]!.n).toBe(r.received.length);
  expect(delivered.reduce((sum, x) => sum + x.attempts, 0)).toBe(r.received.length);
  expect(r.problems).toEqual([]);

  // Audited, and announced on the tenant's live channel.
  const audit = await stack.admin.query<{ action: string }>('SELECT action FROM audit_log WHERE entity_id = $1 ORDER BY seq', [endpoint.id]);
  expect(audit.rows.map((x) => x.action)).toEqual(['webhook_endpoint.circuit_opened', 'webhook_endpoint.circuit_opened', 'webhook_endpoint.circuit_closed']);
  const announced = await eventually(
    () => live.filter((e) => e.endpoint_id === endpoint.id).map((e) => e.type),
    (types) => types.includes('webhook.endpoint_circuit_closed'),
  );
  expect(announced).toEqual(['webhook.endpoint_circuit_opened', 'webhook.endpoint_circuit_opened', 'webhook.endpoint_circuit_closed']);
}, 150_000);

it('repeated trips disable the endpoint and open exactly one internal ticket; enabling it again delivers what was held', async () => {
  let failing = true;
  const r = await receiver(({ index }) => (failing ? (index % 2 ? { status: 500, body: 'database down' } : { status: 502 }) : { status: 200 }));
  const endpoint = await seedEndpoint(stack, acme.id, r.url);
  await stack.admin.query("UPDATE webhook_endpoints SET description = 'ERP sync' WHERE id = $1", [endpoint.id]);
  r.secrets = [endpoint.secret];
  const deliveries: { id: string }[] = [];
  for (let i = 0; i < 3; i++) deliveries.push(await seedDelivery(stack, acme.id, endpoint.id));

  // Trip, failed probe (trip 2), failed probe (trip 3): disabled.
  const disabled = await eventually(
    () => endpointOf(acme, endpoint.id),
    (e) => !e.enabled,
    60_000,
  );
  expect(disabled.enabled).toBe(false);
  expect(disabled.disabled_reason).toMatch(/^circuit breaker: tripped 3 times without a successful probe/);
  expect(disabled.circuit).toEqual({ state: 'open', trips: 3, retry_at: null });

  // The internal ticket, in the tenant's own queue, requested by its system customer.
  const ticketsOf = async () => {
    const res = await http(stack, 'GET', `/api/v1/tickets?tag=${WEBHOOK_INCIDENT_TAG}&limit=100`, { headers: acme.headers });
    expect(res.status).toBe(200);
    return (res.body.data as { id: string; subject: string; description: string; priority: string; customer_id: string; tags: string[] }[]).filter((t) =>
      t.description.includes(endpoint.id),
    );
  };
  const tickets = await eventually(ticketsOf, (t) => t.length > 0, 30_000);
  expect(tickets).toHaveLength(1);
  const ticket = tickets[0]!;
  expect(disabled.disabled_reason).toContain(ticket.id);
  expect(ticket).toMatchObject({ priority: 'high', tags: [WEBHOOK_INCIDENT_TAG], customer_id: webhookSystemCustomerIdOf(acme.id) });
  expect(ticket.subject).toBe(`Webhook endpoint disabled: ${new URL(r.url).host}`);
  for (const part of [r.url, 'ERP sync', 'tripped 3 times', 'HTTP 500', 'HTTP 502']) expect(ticket.description).toContain(part);
  const trips = await stack.admin.query<{ t: string[] }>('SELECT breaker_tripped_at::text[] AS t FROM webhook_endpoints WHERE id = $1', [endpoint.id]);
  expect(trips.rows[0]!.t).toHaveLength(3);
  // Another tenant sees nothing of it.
  expect((await http(stack, 'GET', `/api/v1/tickets/${ticket.id}`, { headers: globex.headers })).status).toBe(404);

  // Opening it again (a retried activity, the sweeper racing the in-line attempt) names the same ticket.
  await stack.admin.query('UPDATE webhook_endpoints SET breaker_incident_pending = true WHERE id = $1', [endpoint.id]);
  const config = stack.config;
  const breaker = webhookCircuitBreaker({
    pool: stack.pool,
    crypto: createFieldCrypto(config),
    settings: breakerSettingsOf(config),
    probeLeaseMs: 40_000,
    incidents: {
      temporal: stack.temporal,
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      settings: { autoCloseAfterMs: config.TICKET_AUTO_CLOSE_AFTER, historyEventLimit: config.TICKET_HISTORY_EVENT_LIMIT },
    },
  });
  await Promise.all([breaker.openIncident(acme.id, endpoint.id), breaker.openIncident(acme.id, endpoint.id)]);
  expect((await ticketsOf()).map((t) => t.id)).toEqual([ticket.id]);
  const pending = await stack.admin.query('SELECT breaker_incident_pending FROM webhook_endpoints WHERE id = $1', [endpoint.id]);
  expect(pending.rows[0].breaker_incident_pending).toBe(false);

  // Audited and announced like a dead letter.
  const audit = await stack.admin.query<{ action: string; after: Record<string, unknown> }>(
    "SELECT action, after FROM audit_log WHERE entity_id = $1 AND action = 'webhook_endpoint.disabled'",
    [endpoint.id],
  );
  expect(audit.rows).toHaveLength(1);
  expect(audit.rows[0]!.after).toMatchObject({ enabled: false, trips: 3, incident_ticket_id: ticket.id });
  const announced = await eventually(
    () => live.filter((e) => e.endpoint_id === endpoint.id && e.type === 'webhook.endpoint_disabled'),
    (events) => events.length > 0,
  );
  // Heard on acme's own channel (the tenant is the channel's), as an admins-only notice.
  expect(announced).toEqual([expect.objectContaining({ trips: 3, incident_ticket_id: ticket.id })]);

  // Nothing was lost: no delivery is dead, and none is sent while the endpoint is off.
  const parked = await rowsOf(deliveries.map((d) => d.id));
  expect(parked.filter((x) => x.status === 'dead' || x.status === 'delivered')).toEqual([]);
  const sent = r.received.length;

  // An admin fixes the receiver and enables the endpoint: the breaker starts afresh and every delivery arrives.
  failing = false;
  const enabled = await http(stack, 'PATCH', `/api/v1/webhook-endpoints/${endpoint.id}`, { headers: acme.admin.headers, body: { enabled: true } });
  expect(enabled.status).toBe(200);
  expect(enabled.body.circuit).toEqual({ state: 'closed', trips: 0, retry_at: null });
  const delivered = await eventually(
    () => rowsOf(deliveries.map((d) => d.id)),
    (rows) => rows.every((x) => x.status === 'delivered'),
    30_000,
  );
  expect(delivered.map((x) => x.status)).toEqual(['delivered', 'delivered', 'delivered']);
  // Once each (the endpoint also gets the incident ticket's own events, held while it was off).
  const after = r.received.slice(sent).filter((x) => deliveries.some((d) => d.id === idOf(x)));
  expect(after.map((x) => x.status)).toEqual([200, 200, 200]);
  expect(new Set(after.map(idOf)).size).toBe(3);
  expect(r.problems).toEqual([]);
  expect((await ticketsOf()).map((t) => t.id)).toEqual([ticket.id]);
}, 150_000);

it('a slow receiver never sees more than WEBHOOK_ENDPOINT_CONCURRENCY (2) requests at once', async () => {
  // The cap is per worker process: one process here.
  await stopProcess(workers[1]!);
  let open = 0;
  let most = 0;
  let served = 0;
  const server = createServer((req, res) => {
    open++;
    most = Math.max(most, open);
    req.resume();
    req.on('end', () =>
      setTimeout(() => {
        open--;
        served++;
        res.writeHead(200).end();
      }, 300),
    );
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = await seedEndpoint(stack, globex.id, `http://127.0.0.1:${(server.address() as AddressInfo).port}/slow`);
  const deliveries: { id: string }[] = [];
  for (let i = 0; i < 8; i++) deliveries.push(await seedDelivery(stack, globex.id, endpoint.id));

  const rows = await eventually(
    () => rowsOf(deliveries.map((d) => d.id)),
    (all) => all.every((x) => x.status === 'delivered'),
    30_000,
  );
  expect(rows.map((x) => x.status)).toEqual(Array(8).fill('delivered'));
  expect(served).toBe(8);
  expect(most).toBe(2);
}, 60_000);
