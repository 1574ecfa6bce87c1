/**
 * Retention of idempotency records and sessions. They live in Redis, each written with its time to live (checked
 * here on records the API really wrote), so Redis deletes them on time; the data retention schedule, created by the
 * run's worker at start, is the backstop for keys that escaped: no TTL, a TTL longer than the limit now configured,
 * sessions past their own end, refresh tokens whose session is gone. Everything else is left exactly as it was.
 * Uploads never linked to a message go once past their hold, objects and rows, with the worker's role.
 */
import { createHash, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { Redis } from 'ioredis';
import { UNCONFIRMED_UPLOAD_HOLD_MS } from '../../domain/attachment';
import { createObjectStorage } from '../../platform/object-storage';
import { createRedis } from '../../platform/redis';
import { redisRetentionStore } from '../../stores/redis-retention';
import {
  DATA_RETENTION_SCAN_BATCH,
  ensureDataRetentionSchedule,
  OBJECT_DELETION_BATCH,
  OBJECT_DELETION_GRACE_MS,
  UNLINKED_UPLOAD_BATCH,
} from '../../workers/data-retention-schedule';
import {
  DATA_RETENTION_WORKFLOW_TYPE,
  type DataRetentionInput,
  type DataRetentionResult,
  dataRetentionScheduleId,
} from '../../workflows/data-retention-contract';
import { multipart, png } from '../support/multipart';
import { record, saveRecorded } from '../workflows/replay-support';
import { createTenant, http, startStack, type Tenant, type TestStack } from '../support/stack';
import { eventually } from '../webhooks/support';

const HOUR = 60 * 60 * 1000;
const DAY = 24 * HOUR;
let stack: TestStack;
let acme: Tenant;
let raw: Redis;

beforeAll(async () => {
  stack = await startStack();
  acme = await createTenant(stack, 'Retention');
  raw = new Redis(stack.config.REDIS_URL); // no prefix: for keys outside this deployment's
});
afterAll(async () => {
  raw.disconnect();
  await stack.close();
});

const schedule = () => stack.temporal.schedule.getHandle(dataRetentionScheduleId(stack.config.TEMPORAL_TASK_QUEUE));
const limits = { idempotency_ms: DAY, session_ms: DAY, refresh_token_ms: 7 * DAY };
const claims = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as { sid: string; sub: string };
const refreshKey = (token: string) => `rt:${createHash('sha256').update(token).digest('base64url')}`;

it('the worker has created the schedule: hourly, overlap skipped, one interval of catch-up, the configured limits', async () => {
  const description = await schedule().describe();
  expect(description.spec.intervals).toEqual([expect.objectContaining({ every: HOUR })]);
  expect(description.action).toMatchObject({
    type: 'startWorkflow',
    workflowType: DATA_RETENTION_WORKFLOW_TYPE,
    taskQueue: stack.config.TEMPORAL_TASK_QUEUE,
    args: [{ redis: limits, scan_batch: DATA_RETENTION_SCAN_BATCH, unlinked_uploads: { hold_ms: UNCONFIRMED_UPLOAD_HOLD_MS, batch: UNLINKED_UPLOAD_BATCH } }],
  });
  expect(description.policies).toMatchObject({ overlap: 'SKIP', catchupWindow: HOUR });
  expect(description.state.paused).toBe(false);
});

it('creating it again (another worker starting) is harmless, and picks up changed settings', async () => {
  const settings = { taskQueue: stack.config.TEMPORAL_TASK_QUEUE, everyMs: HOUR, redis: limits };
  await ensureDataRetentionSchedule(stack.temporal, { ...settings, everyMs: 2 * HOUR, redis: { ...limits, idempotency_ms: HOUR } });
  let description = await schedule().describe();
  expect(description.spec.intervals).toEqual([expect.objectContaining({ every: 2 * HOUR })]);
  expect(description.action).toMatchObject({ args: [{ redis: { ...limits, idempotency_ms: HOUR } }] });
  await ensureDataRetentionSchedule(stack.temporal, settings);
  description = await schedule().describe();
  expect(description.spec.intervals).toEqual([expect.objectContaining({ every: HOUR })]);
  expect(description.action).toMatchObject({ args: [{ redis: limits }] });
});

it('what the API writes carries its limit as a time to live: Redis deletes it on time', async () => {
  const { sid } = claims(acme.agent.token);
  const session = await stack.redis.pttl(`sess:${sid}`);
  expect(session).toBeGreaterThan(DAY - 10 * 60 * 1000);
  expect(session).toBeLessThanOrEqual(DAY);
  const refresh = await stack.redis.pttl(refreshKey(acme.agent.refreshToken));
  expect(refresh).toBeGreaterThan(0);
  expect(refresh).toBeLessThanOrEqual(session + 1000);

  const key = `retention-${randomUUID()}`;
  const created = await http(stack, 'POST', '/api/v1/customers', {
    headers: { ...acme.admin.headers, 'Idempotency-Key': key },
    body: { name: 'Kept a day', email: `${key}@example.com` },
  });
  expect(created.status).toBe(201);
  const idem = await stack.redis.pttl(`idem:${acme.id}:user:${acme.admin.id}:${key}`);
  expect(idem).toBeGreaterThan(DAY - 60_000);
  expect(idem).toBeLessThanOrEqual(DAY);
});

it('a run brings every escaped key within its limit and leaves everything else alone', async () => {
  const r = stack.redis;
  const tag = randomUUID();
  const now = Date.now();
  // A real session (login) and its refresh token: the sweep must leave them as they are.
  const login = await http(stack, 'POST', '/api/v1/auth/login', { body: { email: acme.agent.email, password: acme.agent.password } });
  const live = { sid: claims(login.body.access_token).sid, refresh: login.body.refresh_token as string };
  const liveTtl = await r.pttl(`sess:${live.sid}`);

  const escaped = {
    idemNoTtl: `idem:${tag}:no-ttl`,
    idemWeek: `idem:${tag}:a-week`,
    sessionExpired: `sess:${tag}-expired`,
    sessionNoTtl: `sess:${tag}-no-ttl`,
    sessionUnreadable: `sess:${tag}-unreadable`,
    refreshOrphan: `rt:${tag}-orphan`,
    refreshMonth: `rt:${tag}-month`,
  };
  await r.set(escaped.idemNoTtl, 'sealed');
  await r.set(escaped.idemWeek, 'sealed', 'PX', 7 * DAY);
  await r.set(escaped.sessionExpired, JSON.stringify({ sid: 'x', expires_at: now - 1000 }), 'PX', HOUR);
  await r.set(escaped.sessionNoTtl, JSON.stringify({ sid: 'y', expires_at: now + 3 * DAY }));
  await r.set(escaped.sessionUnreadable, 'not json', 'PX', HOUR);
  await r.set(escaped.refreshOrphan, JSON.stringify({ sid: `${tag}-ended` }), 'PX', DAY);
  await r.set(escaped.refreshMonth, JSON.stringify({ sid: live.sid }), 'PX', 30 * DAY);
  // Not ours to judge: another family without a TTL, and the same names under another deployment's prefix.
  const otherFamily = `ratelimit:${tag}`;
  await r.set(otherFamily, '1');
  const otherDeployment = `other-${tag}:idem:x`;
  await raw.set(otherDeployment, 'sealed');

  const before = (await schedule().describe()).info.recentActions.length;
  await schedule().trigger();
  const actions = await eventually(
    async () => (await schedule().describe()).info.recentActions,
    (list) => list.length > before,
  );
  const run = actions.at(-1)!.action.workflow;
  const result = await stack.temporal.workflow.getHandle(run.workflowId, run.firstExecutionRunId).result();
  expect(result.deleted).toBeGreaterThanOrEqual(4);
  expect(result.capped).toBeGreaterThanOrEqual(3);

  expect(await r.exists(escaped.idemNoTtl, escaped.sessionExpired, escaped.sessionUnreadable, escaped.refreshOrphan)).toBe(0);
  const capped = await Promise.all([r.pttl(escaped.idemWeek), r.pttl(escaped.sessionNoTtl), r.pttl(escaped.refreshMonth)]);
  expect(capped[0]).toBeGreaterThan(DAY - 60_000);
  expect(capped[0]).toBeLessThanOrEqual(DAY);
  expect(capped[1]).toBeGreaterThan(DAY - 60_000); // min(SESSION_TTL, its own end in 3 days)
  expect(capped[1]).toBeLessThanOrEqual(DAY);
  expect(capped[2]).toBeGreaterThan(7 * DAY - 60_000);
  expect(capped[2]).toBeLessThanOrEqual(7 * DAY);

  expect(await r.pttl(otherFamily)).toBe(-1);
  expect(await raw.pttl(otherDeployment)).toBe(-1);
  const stillLive = await r.pttl(`sess:${live.sid}`);
  expect(stillLive).toBeGreaterThan(liveTtl - 60_000);
  expect(stillLive).toBeLessThanOrEqual(liveTtl);
  // The real session goes on working.
  const refreshed = await http(stack, 'POST', '/api/v1/auth/refresh', { body: { refresh_token: live.refresh } });
  expect(refreshed.status).toBe(200);
  await Promise.all([r.del(otherFamily, escaped.idemWeek, escaped.sessionNoTtl, escaped.refreshMonth), raw.del(otherDeployment)]);
}, 60_000);

it("a prefix with glob characters sweeps its own keys only, never a neighbour's its pattern would match", async () => {
  const base = `${stack.config.REDIS_KEY_PREFIX}glob-${randomUUID().slice(0, 8)}`;
  const odd = createRedis({ REDIS_URL: stack.config.REDIS_URL, REDIS_KEY_PREFIX: `${base}[x]*:` });
  try {
    await odd.set('idem:mine', 'sealed');
    await raw.set(`${base}x-neighbour:idem:theirs`, 'sealed'); // what an unescaped `[x]*` would match
    let cursor = '0';
    do cursor = (await redisRetentionStore(odd).sweep(cursor, limits, 1000)).cursor;
    while (cursor !== '0');
    expect(await odd.exists('idem:mine')).toBe(0);
    expect(await raw.pttl(`${base}x-neighbour:idem:theirs`)).toBe(-1);
  } finally {
    await raw.del(`${base}x-neighbour:idem:theirs`);
    odd.disconnect();
  }
});

it("uploads never linked go once past their hold (objects, then nothing pending), with the worker's role, in batches", async () => {
  const storage = createObjectStorage(stack.config); // the run's worker stores where this stack does
  const created = await http(stack, 'POST', '/api/v1/tickets', {
    headers: acme.headers,
    body: { subject: 'Files', description: 'See attached.', customer_id: acme.customerId },
  });
  expect(created.status).toBe(201);
  const ticketId = created.body.id as string;
  const form = multipart([
    { name: 'body', value: 'kept' },
    { name: 'files', filename: 'kept.png', type: 'image/png', data: png(100) },
  ]);
  const linked = await fetch(`${stack.url}/api/v1/tickets/${ticketId}/messages`, {
    method: 'POST',
    headers: { ...acme.headers, 'Content-Type': form.contentType },
    body: form.body,
  });
  expect(linked.status).toBe(201);
  /** An upload whose message never came: its object, and its row `age` old. */
  const orphan = async (age: string) => {
    const id = randomUUID();
    const key = `attachments/${acme.id}/${ticketId}/${id}`;
    await storage.put(key, Readable.from([Buffer.from('left behind')]), { contentType: 'text/plain' });
    await stack.admin.query(
      `INSERT INTO attachments (id, tenant_id, ticket_id, filename, content_type, size_bytes, sha256, storage_key, created_by_type, created_at)
       VALUES ($1, $2, $3, 'o.txt', 'text/plain', 11, $4, $5, 'agent', now() - $6::interval)`,
      [id, acme.id, ticketId, createHash('sha256').update('left behind').digest('hex'), key, age],
    );
    return key;
  };
  const old = [await orphan('3 hours'), await orphan('2 hours')];
  const fresh = await orphan('1 minute');

  const input: DataRetentionInput = {
    redis: limits,
    scan_batch: DATA_RETENTION_SCAN_BATCH,
    object_deletions: { grace_ms: OBJECT_DELETION_GRACE_MS, batch: OBJECT_DELETION_BATCH },
    unlinked_uploads: { hold_ms: 1.5 * HOUR, batch: 1 },
  };
  const workflowId = `unlinked-uploads-test-${randomUUID()}`;
  const result = (await stack.temporal.workflow.execute(DATA_RETENTION_WORKFLOW_TYPE, {
    taskQueue: stack.config.TEMPORAL_TASK_QUEUE,
    workflowId,
    args: [input],
  })) as DataRetentionResult;
  // Kept as a replay fixture with RECORD_HISTORIES=1 (test/workflows/replay.test.ts replays every one).
  saveRecorded([await record(stack.temporal, 'data-retention-unlinked-uploads', workflowId)]);
  expect(result.uploads_expired).toBeGreaterThanOrEqual(2);
  expect(result.objects_deleted).toBeGreaterThanOrEqual(2);
  for (const key of old) expect(await storage.head(key)).toBeNull();
  expect(await storage.head(fresh)).not.toBeNull();
  const { rows } = await stack.admin.query<{ status: string; storage_key: string }>(
    'SELECT status, storage_key FROM attachments WHERE ticket_id = $1 ORDER BY status',
    [ticketId],
  );
  expect(rows.map((r) => r.status)).toEqual(['linked', 'stored']);
  for (const row of rows) expect(await storage.head(row.storage_key)).not.toBeNull();
  const pending = await stack.admin.query('SELECT count(*)::int AS n FROM pending_object_deletions WHERE storage_key = ANY ($1::text[])', [old]);
  expect(pending.rows[0].n).toBe(0);
});

it('the expiry never takes uploads younger than an hour, whatever cut-off it is given (the application role calls it)', async () => {
  for (const before of [new Date(), new Date(Date.now() - 30 * 60 * 1000), new Date(Date.now() + HOUR)]) {
    await expect(stack.pool.query('SELECT expire_unlinked_attachments($1, 10)', [before.toISOString()])).rejects.toMatchObject({ code: '22023' });
  }
  await expect(stack.pool.query('SELECT expire_unlinked_attachments(NULL, 10)')).rejects.toMatchObject({ code: '22023' });
});
