/**
 * Retention of the webhook delivery log: the worker creates (or updates) a Temporal schedule at start; each run
 * purges attempts older than WEBHOOK_ATTEMPT_RETENTION in batches through the narrow SECURITY DEFINER function
 * (the app role cannot DELETE), keeping the recent ones, the deliveries and the events.
 */
import { randomUUID } from 'node:crypto';
import { ensureWebhookRetentionSchedule, RETENTION_BATCH } from '../../workers/webhook-retention-schedule';
import { WEBHOOK_RETENTION_WORKFLOW_TYPE, webhookRetentionScheduleId } from '../../workflows/webhook-retention-contract';
import { createTenant, startStack, type Tenant, type TestStack } from '../support/stack';
import { eventually } from './support';

const DAY = 24 * 60 * 60 * 1000;
let stack: TestStack;
let acme: Tenant;

beforeAll(async () => {
  stack = await startStack();
  acme = await createTenant(stack, 'Acme');
});
afterAll(() => stack.close());

const schedule = () => stack.temporal.schedule.getHandle(webhookRetentionScheduleId(stack.config.TEMPORAL_WEBHOOK_TASK_QUEUE));

it('the worker has created the schedule: hourly, the retention workflow on the webhook queue with the configured retention', async () => {
  const description = await schedule().describe();
  expect(description.spec.intervals).toEqual([expect.objectContaining({ every: 60 * 60 * 1000 })]);
  expect(description.action).toMatchObject({
    type: 'startWorkflow',
    workflowType: WEBHOOK_RETENTION_WORKFLOW_TYPE,
    taskQueue: stack.config.TEMPORAL_WEBHOOK_TASK_QUEUE,
    args: [{ retention_ms: 30 * DAY, batch_size: RETENTION_BATCH }],
  });
  expect(description.policies.overlap).toBe('SKIP');
  expect(description.state.paused).toBe(false);
});

it('creating it again (another worker starting) is harmless, and picks up changed settings', async () => {
  const settings = { taskQueue: stack.config.TEMPORAL_WEBHOOK_TASK_QUEUE, retentionMs: 30 * DAY, everyMs: 60 * 60 * 1000 };
  await ensureWebhookRetentionSchedule(stack.temporal, { ...settings, everyMs: 2 * 60 * 60 * 1000 });
  expect((await schedule().describe()).spec.intervals).toEqual([expect.objectContaining({ every: 2 * 60 * 60 * 1000 })]);
  await ensureWebhookRetentionSchedule(stack.temporal, settings);
  const description = await schedule().describe();
  expect(description.spec.intervals).toEqual([expect.objectContaining({ every: 60 * 60 * 1000 })]);
  expect(description.action).toMatchObject({ args: [{ retention_ms: 30 * DAY, batch_size: RETENTION_BATCH }] });
});

it('a triggered run purges the attempts older than 30 days, in batches, and keeps the recent ones, the deliveries and the events', async () => {
  const endpointId = randomUUID();
  await stack.admin.query(
    "INSERT INTO webhook_endpoints (id, tenant_id, url, secret_enc, enabled) VALUES ($1, $2, 'https://hooks.example.invalid/x', 'enc', false)",
    [endpointId, acme.id],
  );
  const { rows: ev } = await stack.admin.query<{ seq: string }>(
    "INSERT INTO webhook_events (id, tenant_id, type, body) VALUES ($1, $2, 'webhook.test', '{}') RETURNING seq",
    [randomUUID(), acme.id],
  );
  const deliveryId = randomUUID();
  await stack.admin.query(
    "INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, event_seq, event_type, status, delivered_at) VALUES ($1, $2, $3, $4, 'webhook.test', 'delivered', now())",
    [deliveryId, acme.id, endpointId, ev[0]!.seq],
  );
  // More old attempts than one batch holds, and recent ones (one just inside the retention).
  const old = RETENTION_BATCH * 2 + 500;
  await stack.admin.query(
    `INSERT INTO webhook_attempts (tenant_id, delivery_id, attempted_at, duration_ms, status_code)
     SELECT $1, $2, now() - interval '31 days' - make_interval(secs => g), 5, 500 FROM generate_series(1, $3) g`,
    [acme.id, deliveryId, old],
  );
  await stack.admin.query(
    `INSERT INTO webhook_attempts (tenant_id, delivery_id, attempted_at, duration_ms, status_code)
     VALUES ($1, $2, now() - interval '29 days', 5, 500), ($1, $2, now(), 5, 200)`,
    [acme.id, deliveryId],
  );
  const count = async () =>
    (
      await stack.admin.query<{ old: number; recent: number }>(
        `SELECT count(*) FILTER (WHERE attempted_at < now() - interval '30 days')::int AS old,
                count(*) FILTER (WHERE attempted_at >= now() - interval '30 days')::int AS recent
         FROM webhook_attempts WHERE delivery_id = $1`,
        [deliveryId],
      )
    ).rows[0]!;
  expect(await count()).toEqual({ old, recent: 2 });

  // The application role itself cannot delete (only the narrow function can).
  await expect(stack.pool.query('DELETE FROM webhook_attempts WHERE delivery_id = $1', [deliveryId])).rejects.toThrow(/permission denied/);

  const before = (await schedule().describe()).info.recentActions.length;
  await schedule().trigger();
  expect(await eventually(count, (c) => c.old === 0, 30_000)).toEqual({ old: 0, recent: 2 });
  // The run that did it, started by the schedule, purged them in several batches.
  const action = await eventually(
    async () => (await schedule().describe()).info.recentActions,
    (list) => list.length > before,
  );
  const run = action.at(-1)!.action.workflow;
  const handle = stack.temporal.workflow.getHandle(run.workflowId, run.firstExecutionRunId);
  expect(await handle.result()).toBeGreaterThanOrEqual(old);
  const history = await handle.fetchHistory();
  expect(history.events!.filter((e) => e.activityTaskCompletedEventAttributes).length).toBeGreaterThanOrEqual(3);
  // The delivery and its event stay (the change feed keeps every event).
  const kept = await stack.admin.query(
    'SELECT (SELECT count(*) FROM webhook_deliveries WHERE id = $1)::int AS d, (SELECT count(*) FROM webhook_events WHERE seq = $2)::int AS e',
    [deliveryId, ev[0]!.seq],
  );
  expect(kept.rows[0]).toEqual({ d: 1, e: 1 });
}, 60_000);
