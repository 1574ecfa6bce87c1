/**
 * Webhook delivery against real loopback receivers, through the run's real worker process: signatures
 * (verified with the independent `standardwebhooks` package and with node:crypto), first attempts made
 * by the dispatcher, retries in the backoff workflow at the expected delays, dead letters, redrive,
 * Retry-After, 410, redirects, per-ticket order, and the delivery log over the API.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { Webhook } from 'standardwebhooks';
import { liveChannel } from '../../platform/channels';
import { createTenant, http, startStack, type Tenant, type TestStack } from '../support/stack';
import { type Receiver, deliveryRow, eventually, newSecret, recompute, seedDelivery, seedEndpoint, startReceiver, verifies } from './support';

let stack: TestStack;
let acme: Tenant;
let globex: Tenant;
const receivers: Receiver[] = [];

beforeAll(async () => {
  stack = await startStack();
  acme = await createTenant(stack, 'Acme');
  globex = await createTenant(stack, 'Globex');
});
afterAll(async () => {
  await Promise.all(receivers.map((r) => r.close()));
  await stack.close();
});

async function receiver(answer?: Receiver['answer']) {
  const r = await startReceiver(answer);
  receivers.push(r);
  return r;
}

const attemptsOf = async (id: string) =>
  (await stack.admin.query('SELECT status_code, error, response_body FROM webhook_attempts WHERE delivery_id = $1 ORDER BY attempted_at, id', [id])).rows;

it('a delivery is signed per Standard Webhooks over the stored bytes, with custom headers; a changed byte fails', async () => {
  const r = await receiver(() => ({ status: 204 }));
  const endpoint = await seedEndpoint(stack, acme.id, r.url, { headers: { 'X-Team': 'blue' } });
  r.secrets = [endpoint.secret];
  const d = await seedDelivery(stack, acme.id, endpoint.id);

  await eventually(
    () => r.received.length,
    (n) => n >= 1,
    10_000,
  );
  const got = r.received[0]!;
  expect(got.body).toBe(d.body); // the stored bytes, unchanged
  expect(got.headers['webhook-id']).toBe(`msg_${d.id}`);
  expect(got.headers['content-type']).toBe('application/json');
  expect(got.headers['x-team']).toBe('blue');
  expect(Math.abs(Number(got.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(10);
  // Independent verification, and the HMAC recomputed by hand.
  expect(new Webhook(endpoint.secret).verify(got.body, got.headers as Record<string, string>)).toEqual(JSON.parse(d.body));
  expect(got.headers['webhook-signature']).toBe(recompute(endpoint.secret, got.headers, got.body));
  expect(r.problems).toEqual([]);

  // One changed body byte: neither implementation accepts it.
  const tampered = Buffer.from(got.body);
  tampered[10] = tampered[10]! ^ 1;
  expect(() => new Webhook(endpoint.secret).verify(tampered.toString(), got.headers as Record<string, string>)).toThrow();
  expect(verifies(endpoint.secret, got.headers, tampered.toString())).toBe(false);
  // Nor another secret.
  expect(verifies(newSecret(), got.headers, got.body)).toBe(false);

  expect(
    await eventually(
      () => deliveryRow(stack, d.id),
      (row) => row.status === 'delivered',
    ),
  ).toMatchObject({
    status: 'delivered',
    attempts: 1,
    last_status: 204,
  });
  // The common case runs no workflow.
  await expect(stack.temporal.workflow.getHandle(`webhook-delivery-${d.id}`).describe()).rejects.toThrow();
});

it('during a rotation every attempt carries both signatures, and each secret alone verifies', async () => {
  const r = await receiver();
  const previous = newSecret();
  const endpoint = await seedEndpoint(stack, acme.id, r.url, { previous });
  r.secrets = [endpoint.secret, previous];
  await seedDelivery(stack, acme.id, endpoint.id);
  await eventually(
    () => r.received.length,
    (n) => n >= 1,
    10_000,
  );
  const got = r.received[0]!;
  expect(String(got.headers['webhook-signature']).split(' ')).toEqual([
    recompute(endpoint.secret, got.headers, got.body),
    recompute(previous, got.headers, got.body),
  ]);
  expect(verifies(endpoint.secret, got.headers, got.body)).toBe(true);
  expect(verifies(previous, got.headers, got.body)).toBe(true);
  expect(r.problems).toEqual([]);

  // Once the overlap is over, the previous secret signs no more.
  await stack.admin.query("UPDATE webhook_endpoints SET previous_secret_expires_at = now() - interval '1 s' WHERE id = $1", [endpoint.id]);
  r.secrets = [endpoint.secret];
  await seedDelivery(stack, acme.id, endpoint.id);
  await eventually(
    () => r.received.length,
    (n) => n >= 2,
    10_000,
  );
  expect(String(r.received[1]!.headers['webhook-signature']).split(' ')).toHaveLength(1);
  expect(verifies(previous, r.received[1]!.headers, r.received[1]!.body)).toBe(false);
  expect(r.problems).toEqual([]);
});

it('500, 500, 200: retried at ~1 s and ~2 s more (± jitter), same webhook-id and bytes, fresh timestamps', async () => {
  const r = await receiver(({ index }) => ({
    status: index < 2 ? 500 : 200,
    body: index < 2 ? 'try later' : 'ok',
    headers: { 'X-Receiver': `answer ${index}` },
  }));
  const endpoint = await seedEndpoint(stack, acme.id, r.url);
  r.secrets = [endpoint.secret];
  const d = await seedDelivery(stack, acme.id, endpoint.id);

  await eventually(
    () => deliveryRow(stack, d.id),
    (row) => row.status === 'delivered',
    20_000,
  );
  expect(r.received.map((x) => x.status)).toEqual([500, 500, 200]);
  const [a, b, c] = r.received as [(typeof r.received)[0], (typeof r.received)[0], (typeof r.received)[0]];
  // First retry after 1 s (+ up to 25 % jitter), the second after 2 s (+ jitter); generous slack for a busy machine.
  expect(b.at - a.at).toBeGreaterThanOrEqual(950);
  expect(b.at - a.at).toBeLessThan(2500);
  expect(c.at - b.at).toBeGreaterThanOrEqual(1950);
  expect(c.at - b.at).toBeLessThan(4000);
  expect(new Set(r.received.map((x) => x.headers['webhook-id']))).toEqual(new Set([`msg_${d.id}`]));
  expect(r.received.every((x) => x.body === d.body)).toBe(true);
  const stamps = r.received.map((x) => Number(x.headers['webhook-timestamp']));
  expect(stamps[2]! - stamps[0]!).toBeGreaterThanOrEqual(2); // re-signed per attempt
  expect(r.problems).toEqual([]);

  // The log has every attempt; the detail over the API shows them.
  expect((await attemptsOf(d.id)).map((x) => [x.status_code, x.response_body])).toEqual([
    [500, 'try later'],
    [500, 'try later'],
    [200, 'ok'],
  ]);
  const detail = await http(stack, 'GET', `/api/v1/webhook-deliveries/${d.id}`, { headers: acme.admin.headers });
  expect(detail.status).toBe(200);
  expect(detail.body).toMatchObject({ id: d.id, webhook_id: `msg_${d.id}`, status: 'delivered', attempt_count: 3, last_status: 200 });
  expect(detail.body.attempts.map((x: { status_code: number }) => x.status_code)).toEqual([500, 500, 200]);
  expect(detail.body.attempts[0].response_headers['x-receiver']).toBe('answer 0');
});

it('always 500: dead after 1 + 3 attempts, audited and announced live; a redrive then succeeds with the same webhook-id', async () => {
  let healthy = false;
  const r = await receiver(() => ({ status: healthy ? 200 : 500 }));
  const endpoint = await seedEndpoint(stack, acme.id, r.url);
  r.secrets = [endpoint.secret];

  const subscriber = new Redis(stack.config.REDIS_URL);
  const live: Record<string, unknown>[] = [];
  await subscriber.subscribe(liveChannel(stack.config.REDIS_KEY_PREFIX, acme.id));
  subscriber.on('message', (_channel, message) => {
    // Admin notices on the live bus: `{kind, id, audience, event: {type, timestamp, data}}`, flattened here.
    const m = JSON.parse(message);
    if (m.audience === 'admins') live.push({ type: m.event.type, ...m.event.data });
  });
  try {
    const d = await seedDelivery(stack, acme.id, endpoint.id);
    const dead = await eventually(
      () => deliveryRow(stack, d.id),
      (row) => row.status === 'dead',
      30_000,
    );
    expect(dead).toMatchObject({ status: 'dead', attempts: 4, last_status: 500 });
    expect(r.received).toHaveLength(4);
    const audit = await stack.admin.query(
      "SELECT action, actor_type, after FROM audit_log WHERE entity_id = $1 AND action = 'webhook_delivery.dead_lettered'",
      [d.id],
    );
    expect(audit.rows).toEqual([
      {
        action: 'webhook_delivery.dead_lettered',
        actor_type: 'system',
        after: expect.objectContaining({ endpoint_id: endpoint.id, attempts: 4, last_status: 500 }),
      },
    ]);
    const announced = await eventually(
      () => live.filter((e) => e.type === 'webhook.delivery_dead' && e.delivery_id === d.id),
      (list) => list.length > 0,
      5000,
    );
    expect(announced).toEqual([expect.objectContaining({ endpoint_id: endpoint.id, reason: 'retries_exhausted', attempts: 4 })]);

    // The dead letter shows in the endpoint's log (filtered), then a redrive delivers it with the same webhook-id.
    const listed = await http(stack, 'GET', `/api/v1/webhook-endpoints/${endpoint.id}/deliveries?status=dead`, { headers: acme.admin.headers });
    expect(listed.status).toBe(200);
    expect(listed.body.data.map((x: { id: string }) => x.id)).toEqual([d.id]);
    expect(listed.body.data[0]).toMatchObject({ attempt_count: 4, last_status: 500, status: 'dead' });

    // Another tenant cannot see or redrive it.
    expect((await http(stack, 'POST', `/api/v1/webhook-deliveries/${d.id}/retry`, { headers: globex.admin.headers })).status).toBe(404);
    expect((await deliveryRow(stack, d.id)).status).toBe('dead');

    healthy = true;
    const redriven = await http(stack, 'POST', `/api/v1/webhook-deliveries/${d.id}/retry`, { headers: acme.admin.headers });
    expect(redriven.status).toBe(202);
    expect(redriven.body).toMatchObject({ id: d.id, status: 'pending' });
    await eventually(
      () => deliveryRow(stack, d.id),
      (row) => row.status === 'delivered',
      10_000,
    );
    expect(r.received).toHaveLength(5);
    expect(r.received[4]!.headers['webhook-id']).toBe(`msg_${d.id}`);
    expect(r.received[4]!.body).toBe(d.body);
    expect(r.problems).toEqual([]);
    // A delivered one is not a dead letter: no second redrive.
    const again = await http(stack, 'POST', `/api/v1/webhook-deliveries/${d.id}/retry`, { headers: acme.admin.headers });
    expect({ status: again.status, code: again.body.code }).toEqual({ status: 409, code: 'conflict' });
    const redriveAudit = await stack.admin.query("SELECT actor_id FROM audit_log WHERE entity_id = $1 AND action = 'webhook_delivery.redriven'", [d.id]);
    expect(redriveAudit.rows).toEqual([{ actor_id: acme.admin.id }]);
  } finally {
    subscriber.disconnect();
  }
}, 60_000);

it('Retry-After: 2 is honoured (the next attempt waits 2 s, not the scheduled 1 s)', async () => {
  const r = await receiver(({ index }) => (index === 0 ? { status: 503, headers: { 'Retry-After': '2' } } : { status: 200 }));
  const endpoint = await seedEndpoint(stack, acme.id, r.url);
  const d = await seedDelivery(stack, acme.id, endpoint.id);
  await eventually(
    () => deliveryRow(stack, d.id),
    (row) => row.status === 'delivered',
    15_000,
  );
  expect(r.received.map((x) => x.status)).toEqual([503, 200]);
  const gap = r.received[1]!.at - r.received[0]!.at;
  expect(gap).toBeGreaterThanOrEqual(1950);
  expect(gap).toBeLessThan(4000);
});

it('410 Gone: the delivery is dead and the endpoint disabled, with its reason, audited', async () => {
  const r = await receiver(() => ({ status: 410 }));
  const endpoint = await seedEndpoint(stack, acme.id, r.url);
  const d = await seedDelivery(stack, acme.id, endpoint.id);
  expect(
    await eventually(
      () => deliveryRow(stack, d.id),
      (row) => row.status === 'dead',
      10_000,
    ),
  ).toMatchObject({ status: 'dead', attempts: 1, last_status: 410 });
  const { rows } = await stack.admin.query('SELECT enabled, disabled_reason FROM webhook_endpoints WHERE id = $1', [endpoint.id]);
  expect(rows[0]).toEqual({ enabled: false, disabled_reason: expect.stringContaining('410') });
  const audit = await stack.admin.query("SELECT count(*)::int AS n FROM audit_log WHERE entity_id = $1 AND action = 'webhook_endpoint.disabled'", [
    endpoint.id,
  ]);
  expect(audit.rows[0].n).toBe(1);
  const dead = await stack.admin.query("SELECT after->>'reason' AS reason FROM audit_log WHERE entity_id = $1 AND action = 'webhook_delivery.dead_lettered'", [
    d.id,
  ]);
  expect(dead.rows).toEqual([{ reason: 'gone' }]);

  // Nothing more goes to a disabled endpoint: a new delivery waits (pending), unattempted.
  const next = await seedDelivery(stack, acme.id, endpoint.id);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  expect(r.received).toHaveLength(1);
  expect(await deliveryRow(stack, next.id)).toMatchObject({ status: 'pending', attempts: 0 });
});

it('a 302 is not followed: the Location target receives nothing and the attempt counts as failed', async () => {
  const target = await receiver();
  const r = await receiver(() => ({ status: 302, headers: { Location: target.url } }));
  const endpoint = await seedEndpoint(stack, acme.id, r.url);
  const d = await seedDelivery(stack, acme.id, endpoint.id);
  await eventually(
    () => r.received.length,
    (n) => n >= 2,
    10_000,
  ); // the first attempt and the first retry
  expect(target.received).toEqual([]);
  // The receiver answers before the attempt is logged: wait for the second log row, not just the request.
  const logged = await eventually(
    () => attemptsOf(d.id),
    (rows) => rows.length >= 2,
    10_000,
  );
  expect(logged.slice(0, 2).map((x) => x.status_code)).toEqual([302, 302]);
  expect(await deliveryRow(stack, d.id)).toMatchObject({ status: 'retrying', last_status: 302 });
  // The log says when the next retry is due (the third attempt: 2 s after the second, + jitter).
  const detail = await http(stack, 'GET', `/api/v1/webhook-deliveries/${d.id}`, { headers: acme.admin.headers });
  expect(detail.body.status).toBe('retrying');
  const dueIn = Date.parse(detail.body.next_attempt_at) - Date.now();
  expect(dueIn).toBeGreaterThan(0);
  expect(dueIn).toBeLessThanOrEqual(2600);
});

it('per ticket, deliveries arrive in order: a later event waits while the earlier one is retried', async () => {
  const firstIds = new Set<string>();
  const order: string[] = [];
  const r = await receiver(({ headers }) => {
    const id = String(headers['webhook-id']);
    if (id === order[0] && !firstIds.has(id)) {
      firstIds.add(id);
      return { status: 500 };
    }
    return { status: 200 };
  });
  const endpoint = await seedEndpoint(stack, acme.id, r.url);
  const ticketId = randomUUID();
  const first = await seedDelivery(stack, acme.id, endpoint.id, { ticketId, type: 'ticket.created' });
  order.push(`msg_${first.id}`);
  const second = await seedDelivery(stack, acme.id, endpoint.id, { ticketId, type: 'ticket.updated' });
  const third = await seedDelivery(stack, acme.id, endpoint.id, { ticketId, type: 'ticket.closed' });
  // Another ticket on the same endpoint is not held up.
  const other = await seedDelivery(stack, acme.id, endpoint.id);

  await eventually(
    () => deliveryRow(stack, third.id),
    (row) => row.status === 'delivered',
    20_000,
  );
  const sequence = r.received.map((x) => [x.headers['webhook-id'], x.status]).filter(([id]) => id !== `msg_${other.id}`);
  expect(sequence).toEqual([
    [`msg_${first.id}`, 500],
    [`msg_${first.id}`, 200],
    [`msg_${second.id}`, 200],
    [`msg_${third.id}`, 200],
  ]);
  const otherAt = r.received.find((x) => x.headers['webhook-id'] === `msg_${other.id}`)!.at;
  const firstSuccessAt = r.received.filter((x) => x.headers['webhook-id'] === `msg_${first.id}`)[1]!.at;
  expect(otherAt).toBeLessThan(firstSuccessAt);
  // Ordered, and prompt: the second goes as soon as the first is delivered (woken, not left to a periodic recheck).
  const secondAt = r.received.find((x) => x.headers['webhook-id'] === `msg_${second.id}`)!.at;
  expect(secondAt - firstSuccessAt).toBeLessThan(1500);
});

it('the delivery log: filters, cursor pages, 404 for an unknown or foreign endpoint', async () => {
  const r = await receiver();
  const endpoint = await seedEndpoint(stack, acme.id, r.url);
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) ids.push((await seedDelivery(stack, acme.id, endpoint.id, { type: i === 0 ? 'ticket.created' : 'ticket.updated' })).id);
  await eventually(
    () => r.received.length,
    (n) => n >= 3,
    10_000,
  );
  await eventually(
    () => Promise.all(ids.map((id) => deliveryRow(stack, id))),
    (rows) => rows.every((x) => x.status === 'delivered'),
  );

  const path = `/api/v1/webhook-endpoints/${endpoint.id}/deliveries`;
  const page1 = await http(stack, 'GET', `${path}?limit=2`, { headers: acme.admin.headers });
  expect(page1.status).toBe(200);
  expect(page1.body.has_more).toBe(true);
  const page2 = await http(stack, 'GET', `${path}?limit=2&cursor=${page1.body.next_cursor}`, { headers: acme.admin.headers });
  expect(page2.body.has_more).toBe(false);
  expect([...page1.body.data, ...page2.body.data].map((x: { id: string }) => x.id)).toEqual([...ids].reverse());
  expect(page1.body.data[0]).toMatchObject({ status: 'delivered', attempt_count: 1, last_status: 200, next_attempt_at: null });

  const created = await http(stack, 'GET', `${path}?event_type=ticket.created`, { headers: acme.admin.headers });
  expect(created.body.data.map((x: { id: string }) => x.id)).toEqual([ids[0]]);
  const none = await http(stack, 'GET', `${path}?status=dead`, { headers: acme.admin.headers });
  expect(none.body.data).toEqual([]);
  const future = await http(stack, 'GET', `${path}?from=2999-01-01T00:00:00Z`, { headers: acme.admin.headers });
  expect(future.body.data).toEqual([]);
  expect((await http(stack, 'GET', `${path}?status=lost`, { headers: acme.admin.headers })).status).toBe(400);

  expect((await http(stack, 'GET', path, { headers: globex.admin.headers })).status).toBe(404);
  expect((await http(stack, 'GET', `/api/v1/webhook-deliveries/${ids[0]}`, { headers: globex.admin.headers })).status).toBe(404);
  expect((await http(stack, 'GET', `/api/v1/webhook-endpoints/${randomUUID()}/deliveries`, { headers: acme.admin.headers })).status).toBe(404);
});

it('an endpoint secret that cannot be decrypted: nothing unsigned leaves, the attempt is logged as failed', async () => {
  const r = await receiver();
  const endpoint = await seedEndpoint(stack, acme.id, r.url);
  await stack.admin.query("UPDATE webhook_endpoints SET secret_enc = 'v1.nokey.AAAA.AAAA.AAAA' WHERE id = $1", [endpoint.id]);
  const d = await seedDelivery(stack, acme.id, endpoint.id);
  const attempts = await eventually(
    () => attemptsOf(d.id),
    (rows) => rows.length >= 1,
    10_000,
  );
  expect(attempts[0]).toMatchObject({ status_code: null, error: 'the endpoint secret cannot be read' });
  expect(r.received).toEqual([]);
});

it('a dispatcher that died between a failed first attempt and the hand-over: the next claim hands it over', async () => {
  const r = await receiver();
  const endpoint = await seedEndpoint(stack, acme.id, r.url);
  const d = await seedDelivery(stack, acme.id, endpoint.id);
  // What such a crash leaves: pending, one attempt counted, no workflow yet.
  await stack.admin.query('UPDATE webhook_deliveries SET attempts = 1, last_status = 500, next_attempt_at = now() WHERE id = $1', [d.id]);
  expect(
    await eventually(
      () => deliveryRow(stack, d.id),
      (row) => row.status === 'delivered',
      15_000,
    ),
  ).toMatchObject({ status: 'delivered', attempts: 2 });
  expect(r.received).toHaveLength(1); // one more attempt, made by the backoff workflow after its delay
  // The workflow made it (and finishes just after committing it).
  expect(await stack.temporal.workflow.getHandle(`webhook-delivery-${d.id}`).result()).toBe('delivered');
});

it('a receiver answering NUL bytes in its body: the attempt is recorded (NUL kept visible as U+FFFD), delivered once', async () => {
  const r = await receiver(() => ({ status: 200, body: 'ok\u0000\u0000done' }));
  const endpoint = await seedEndpoint(stack, acme.id, r.url);
  const d = await seedDelivery(stack, acme.id, endpoint.id);
  expect(
    await eventually(
      () => deliveryRow(stack, d.id),
      (row) => row.status === 'delivered',
      10_000,
    ),
  ).toMatchObject({ status: 'delivered', attempts: 1 });
  expect(await attemptsOf(d.id)).toEqual([{ status_code: 200, error: null, response_body: 'ok\uFFFD\uFFFDdone' }]);
  expect(r.received).toHaveLength(1);
});
