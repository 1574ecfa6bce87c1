/**
 * Bulk redrive of an endpoint's dead letters: over the API (202 + Location, progress, 409 while one runs,
 * RFC 9457 for bad input, tenant isolation), walked by the redrive workflow on the run's worker in paced batches
 * that continue as new, each dead letter requeued once with its webhook-id and audited; cancel; a stale running
 * row does not block the endpoint; and a worker killed mid-redrive (kill -9) resumes at the cursor.
 */
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { webhookRedriveWorkflowId } from '../../workflows/webhook-redrive-contract';
import { startWorkerProcess, stopProcess } from '../support/processes';
import { createTenant, http, startStack, type Tenant, type TestStack } from '../support/stack';
import { eventually, type Receiver, seedEndpoint, startReceiver } from './support';

// Slow enough to watch: 2 per batch, 2 per second (a batch a second), a new run every 2 batches.
const REDRIVE_ENV = { WEBHOOK_REDRIVE_PER_SECOND: '2', WEBHOOK_REDRIVE_BATCH: '2', WEBHOOK_REDRIVE_BATCHES_PER_RUN: '2' };

let stack: TestStack;
let acme: Tenant;
let globex: Tenant;
const receivers: Receiver[] = [];

beforeAll(async () => {
  stack = await startStack(REDRIVE_ENV);
  acme = await createTenant(stack, 'Acme');
  globex = await createTenant(stack, 'Globex');
});
afterAll(async () => {
  await Promise.all(receivers.map((r) => r.close()));
  await stack.close();
});

async function receiver() {
  const r = await startReceiver(() => ({ status: 200 }));
  receivers.push(r);
  return r;
}

/** A dead letter as the backoff workflow leaves it (never due: no dispatcher touches it until it is redriven). */
async function seedDead(s: TestStack, tenantId: string, endpointId: string, opts: { type?: string; ageMs?: number; status?: string } = {}) {
  const type = opts.type ?? 'ticket.updated';
  const { rows } = await s.admin.query<{ seq: string }>('INSERT INTO webhook_events (id, tenant_id, type, body) VALUES ($1, $2, $3, $4) RETURNING seq', [
    randomUUID(),
    tenantId,
    type,
    JSON.stringify({ type, timestamp: new Date().toISOString(), data: { n: randomUUID() } }),
  ]);
  const id = randomUUID();
  await s.admin.query(
    `INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, event_seq, event_type, status, attempts, last_status, created_at, delivered_at)
     VALUES ($1, $2, $3, $4, $5, $6, 4, 500, now() - make_interval(secs => $7::float8 / 1000), CASE WHEN $6 = 'delivered' THEN now() END)`,
    [id, tenantId, endpointId, rows[0]!.seq, type, opts.status ?? 'dead', opts.ageMs ?? 60_000],
  );
  return id;
}

const statuses = async (s: TestStack, ids: string[]) =>
  (await s.admin.query<{ id: string; status: string }>('SELECT id, status FROM webhook_deliveries WHERE id = ANY($1::uuid[]) ORDER BY created_at, id', [ids]))
    .rows;

const redrivenAudits = async (s: TestStack, redriveId: string) =>
  (
    await s.admin.query<{ entity_id: string; actor_id: string; at: number }>(
      `SELECT entity_id, actor_id, (extract(epoch FROM occurred_at) * 1000)::float8 AS at FROM audit_log WHERE action = 'webhook_delivery.redriven' AND after->>'redrive_id' = $1 ORDER BY seq`,
      [redriveId],
    )
  ).rows;

const progress = (s: TestStack, t: Tenant, id: string) => http(s, 'GET', `/api/v1/webhook-redrives/${id}`, { headers: t.admin.headers });

it("requeues the window's dead letters in paced batches, continuing as new, each once with its webhook-id; 409 while it runs", async () => {
  const r = await receiver();
  const endpoint = await seedEndpoint(stack, acme.id, r.url);
  r.secrets = [endpoint.secret];
  const hour = 60 * 60 * 1000;
  // Oldest first (created one minute apart), all inside the window.
  const inWindow: string[] = [];
  for (let i = 0; i < 7; i++) inWindow.push(await seedDead(stack, acme.id, endpoint.id, { ageMs: 30 * 60_000 - i * 60_000 }));
  const tooOld = await seedDead(stack, acme.id, endpoint.id, { ageMs: 2 * hour });
  const otherType = await seedDead(stack, acme.id, endpoint.id, { type: 'ticket.closed' });
  const delivered = await seedDead(stack, acme.id, endpoint.id, { status: 'delivered' });

  const since = new Date(Date.now() - hour).toISOString();
  const started = await http(stack, 'POST', `/api/v1/webhook-endpoints/${endpoint.id}/redrive`, {
    headers: acme.admin.headers,
    body: { since, event_types: ['ticket.updated', 'ticket.created'] },
  });
  expect(started.status).toBe(202);
  const id = started.body.id as string;
  expect(started.headers.get('location')).toBe(`/api/v1/webhook-redrives/${id}`);
  expect(started.body).toMatchObject({
    endpoint_id: endpoint.id,
    state: 'running',
    requeued: 0,
    per_second: 2,
    event_types: ['ticket.updated', 'ticket.created'],
  });

  // One at a time per endpoint: the running one is named (7 dead letters at 2 per second take seconds).
  const concurrent = await http(stack, 'POST', `/api/v1/webhook-endpoints/${endpoint.id}/redrive`, { headers: acme.admin.headers, body: { since } });
  expect({ status: concurrent.status, code: concurrent.body.code, redrive_id: concurrent.body.redrive_id }).toEqual({
    status: 409,
    code: 'conflict',
    redrive_id: id,
  });

  const done = await eventually(
    async () => (await progress(stack, acme, id)).body,
    (b) => b.state !== 'running',
    30_000,
  );
  expect(done).toMatchObject({ state: 'completed', requeued: 7, error: null });
  expect(done.cursor.id).toBe(inWindow[6]);
  expect(done.finished_at).not.toBeNull();

  // Every requeued one is delivered by the dispatcher, with its own webhook-id; the others were not touched.
  const after = await eventually(
    () => statuses(stack, inWindow),
    (rows) => rows.every((x) => x.status === 'delivered'),
  );
  expect(after.map((x) => x.status)).toEqual(Array(7).fill('delivered'));
  expect(new Set(r.received.map((x) => x.headers['webhook-id']))).toEqual(new Set(inWindow.map((d) => `msg_${d}`)));
  expect(r.received).toHaveLength(7);
  expect(r.problems).toEqual([]);
  expect((await statuses(stack, [tooOld, otherType, delivered])).map((x) => [x.id, x.status])).toEqual([
    [tooOld, 'dead'],
    [otherType, 'dead'],
    [delivered, 'delivered'],
  ]);

  // Audited once each, as the admin who asked, naming the redrive; the request itself too.
  const audits = await redrivenAudits(stack, id);
  expect(audits.map((a) => a.entity_id)).toEqual(inWindow);
  expect(new Set(audits.map((a) => a.actor_id))).toEqual(new Set([acme.admin.id]));
  const requested = await stack.admin.query(
    "SELECT actor_id, after->>'redrive_id' AS redrive_id FROM audit_log WHERE action = 'webhook_endpoint.redrive_requested' AND entity_id = $1",
    [endpoint.id],
  );
  expect(requested.rows).toEqual([{ actor_id: acme.admin.id, redrive_id: id }]);
  // Paced: 7 requeued at 2 per second, in batches of 2: the last batch at least 3 batch-seconds after the first.
  expect(audits[6]!.at - audits[0]!.at).toBeGreaterThanOrEqual(2900);

  // Four batches, two per run: the workflow continued as new (its history stays bounded).
  const runs = await eventually(
    async () => {
      const found: string[] = [];
      for await (const w of stack.temporal.workflow.list({ query: `WorkflowId = '${webhookRedriveWorkflowId(id)}'` })) found.push(w.status.name);
      return found;
    },
    (found) => found.length >= 2 && found.includes('COMPLETED'),
  );
  expect(runs.filter((s) => s === 'CONTINUED_AS_NEW').length).toBeGreaterThanOrEqual(1);
  expect(runs.filter((s) => s === 'COMPLETED')).toHaveLength(1);

  // Finished: the endpoint can be redriven again; every type this time, so only the other type's is left to requeue.
  const again = await http(stack, 'POST', `/api/v1/webhook-endpoints/${endpoint.id}/redrive`, { headers: acme.admin.headers, body: { since } });
  expect(again.status).toBe(202);
  const second = await eventually(
    async () => (await progress(stack, acme, again.body.id)).body,
    (b) => b.state !== 'running',
  );
  expect(second).toMatchObject({ state: 'completed', requeued: 1, cursor: { id: otherType } });
  expect((await redrivenAudits(stack, again.body.id)).map((a) => a.entity_id)).toEqual([otherType]);
  expect((await statuses(stack, [tooOld])).map((x) => x.status)).toEqual(['dead']);
}, 60_000);

it('cancel stops it after the current batch; what was requeued stays requeued', async () => {
  const r = await receiver();
  const endpoint = await seedEndpoint(stack, acme.id, r.url);
  const ids: string[] = [];
  for (let i = 0; i < 10; i++) ids.push(await seedDead(stack, acme.id, endpoint.id, { ageMs: 60_000 - i * 1000 }));
  const started = await http(stack, 'POST', `/api/v1/webhook-endpoints/${endpoint.id}/redrive`, {
    headers: acme.admin.headers,
    body: { since: new Date(Date.now() - 3_600_000).toISOString() },
  });
  expect(started.status).toBe(202);
  const id = started.body.id as string;
  await eventually(
    async () => (await progress(stack, acme, id)).body.requeued,
    (n) => n >= 2,
  );
  // Another tenant can neither see nor cancel it.
  expect((await progress(stack, globex, id)).status).toBe(404);
  expect((await http(stack, 'POST', `/api/v1/webhook-redrives/${id}/cancel`, { headers: globex.admin.headers })).status).toBe(404);

  const cancelled = await http(stack, 'POST', `/api/v1/webhook-redrives/${id}/cancel`, { headers: acme.admin.headers });
  expect(cancelled.status).toBe(200);
  expect(cancelled.body.state).toBe('cancelled');
  // The workflow ends at its next batch without requeueing more.
  await stack.temporal.workflow.getHandle(webhookRedriveWorkflowId(id)).result();
  const final = (await progress(stack, acme, id)).body;
  expect(final.state).toBe('cancelled');
  expect(final.requeued).toBeLessThan(10);
  expect((await redrivenAudits(stack, id)).map((a) => a.entity_id)).toEqual(ids.slice(0, final.requeued));
  const rows = await statuses(stack, ids);
  expect(rows.slice(final.requeued).every((x) => x.status === 'dead')).toBe(true);
  const audit = await stack.admin.query("SELECT actor_id FROM audit_log WHERE action = 'webhook_endpoint.redrive_cancelled' AND after->>'redrive_id' = $1", [
    id,
  ]);
  expect(audit.rows).toEqual([{ actor_id: acme.admin.id }]);
});

it('bad input is an RFC 9457 problem and starts nothing; another tenant gets 404', async () => {
  const r = await receiver();
  const endpoint = await seedEndpoint(stack, acme.id, r.url);
  await seedDead(stack, acme.id, endpoint.id);
  const path = `/api/v1/webhook-endpoints/${endpoint.id}/redrive`;
  const past = new Date(Date.now() - 3_600_000).toISOString();
  const bad: [unknown, string][] = [
    [{ since: new Date(Date.now() + 3_600_000).toISOString() }, 'since'],
    [{ since: past, until: new Date(Date.now() - 7_200_000).toISOString() }, 'until'],
    [{ since: past, until: past }, 'until'],
    [{ since: past, event_types: ['ticket.exploded'] }, 'event_types'],
    [{ since: 'yesterday' }, 'since'],
    [{}, 'since'],
    [{ since: past, limit: 5 }, ''],
  ];
  for (const [body, field] of bad) {
    const res = await http(stack, 'POST', path, { headers: acme.admin.headers, body });
    expect({ body, status: res.status, code: res.body.code }).toEqual({ body, status: 400, code: 'validation_failed' });
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    if (field) expect(res.body.errors.map((e: { path: string }) => e.path).join(' ')).toContain(field);
  }
  // Another tenant's endpoint, or none.
  expect((await http(stack, 'POST', path, { headers: globex.admin.headers, body: { since: past } })).status).toBe(404);
  expect((await http(stack, 'POST', `/api/v1/webhook-endpoints/${randomUUID()}/redrive`, { headers: acme.admin.headers, body: { since: past } })).status).toBe(
    404,
  );
  expect((await progress(stack, acme, randomUUID())).status).toBe(404);
  const { rows } = await stack.admin.query('SELECT count(*)::int AS n FROM webhook_redrives WHERE endpoint_id = $1', [endpoint.id]);
  expect(rows[0].n).toBe(0);
});

it('a running row whose workflow never started (the API died in between) does not block the endpoint', async () => {
  const r = await receiver();
  const endpoint = await seedEndpoint(stack, acme.id, r.url);
  const orphan = randomUUID();
  await stack.admin.query(
    `INSERT INTO webhook_redrives (id, tenant_id, endpoint_id, since, per_second, requested_by_type, requested_by_id)
     VALUES ($1, $2, $3, now() - interval '1 hour', 2, 'agent', $4)`,
    [orphan, acme.id, endpoint.id, acme.admin.id],
  );
  const started = await http(stack, 'POST', `/api/v1/webhook-endpoints/${endpoint.id}/redrive`, {
    headers: acme.admin.headers,
    body: { since: new Date(Date.now() - 3_600_000).toISOString() },
  });
  expect(started.status).toBe(202);
  expect(started.body.id).not.toBe(orphan);
  expect((await progress(stack, acme, orphan)).body).toMatchObject({ state: 'failed', error: expect.stringContaining('not running') });
});

describe('a worker killed mid-redrive', () => {
  // This test's own queues: only its workers run what it starts, so it can kill them.
  const env = {
    ...process.env,
    ...REDRIVE_ENV,
    TEMPORAL_TASK_QUEUE: `redrive-tickets-${randomUUID()}`,
    TEMPORAL_WEBHOOK_TASK_QUEUE: `redrive-webhooks-${randomUUID()}`,
  };
  let own: TestStack;
  const workers: ChildProcess[] = [];
  beforeAll(async () => {
    own = await startStack(env);
  });
  afterAll(async () => {
    await Promise.all(workers.map((w) => stopProcess(w, 'SIGKILL')));
    await own.close();
  });

  it('kill -9 between batches, start another: it resumes at the cursor, each dead letter requeued once', async () => {
    const r = await receiver();
    const endpoint = await seedEndpoint(own, acme.id, r.url);
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) ids.push(await seedDead(own, acme.id, endpoint.id, { ageMs: 60_000 - i * 1000 }));
    workers.push(await startWorkerProcess(env));
    const started = await http(own, 'POST', `/api/v1/webhook-endpoints/${endpoint.id}/redrive`, {
      headers: acme.admin.headers,
      body: { since: new Date(Date.now() - 3_600_000).toISOString() },
    });
    expect(started.status).toBe(202);
    const id = started.body.id as string;
    const before = await eventually(
      async () => (await progress(own, acme, id)).body,
      (b) => b.requeued >= 2,
    );
    expect(before.state).toBe('running');
    await stopProcess(workers[0]!, 'SIGKILL');
    const atKill = (await progress(own, acme, id)).body;
    await new Promise((resolve) => setTimeout(resolve, 2500)); // its timer fires with no worker to run the next batch
    expect((await progress(own, acme, id)).body).toMatchObject({ state: atKill.state, requeued: atKill.requeued });
    expect(atKill.requeued).toBeLessThan(8);

    workers.push(await startWorkerProcess(env));
    const done = await eventually(
      async () => (await progress(own, acme, id)).body,
      (b) => b.state !== 'running',
      60_000, // a batch in flight at the kill is tried again after its 15 s start-to-close timeout
    );
    expect(done).toMatchObject({ state: 'completed', requeued: 8 });
    expect(done.cursor.id).toBe(ids[7]);
    // Each exactly once, in order, across the two workers.
    expect((await redrivenAudits(own, id)).map((a) => a.entity_id)).toEqual(ids);
    const delivered = await eventually(
      () => statuses(own, ids),
      (rows) => rows.every((x) => x.status === 'delivered'),
      60_000, // a delivery the killed worker had claimed waits out its lease (WEBHOOK_TIMEOUT + 30 s)
    );
    expect(delivered.every((x) => x.status === 'delivered')).toBe(true);
  }, 180_000);
});
