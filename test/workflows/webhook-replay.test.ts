/**
 * Determinism of the webhook workflows: a delivery's backoff (retried, then delivered; and retried until dead), a
 * bulk redrive and the retention purge are run live against real receivers and the run's worker, recorded, and
 * replayed with the current workflow code. With RECORD_HISTORIES=1 they are kept in `histories/`, which
 * replay.test.ts replays on every run (a change to these workflows must then be guarded by `patched(...)`).
 */
import { randomUUID } from 'node:crypto';
import { WEBHOOK_RETENTION_WORKFLOW_TYPE, type WebhookRetentionInput } from '../../workflows/webhook-retention-contract';
import { webhookRedriveWorkflowId } from '../../workflows/webhook-redrive-contract';
import { createTenant, http, startStack, type Tenant, type TestStack } from '../support/stack';
import { deliveryRow, eventually, type Receiver, seedDelivery, seedEndpoint, startReceiver } from '../webhooks/support';
import { type Recorded, record, replayAll, saveRecorded } from './replay-support';

let stack: TestStack;
let acme: Tenant;
const receivers: Receiver[] = [];
const recorded: Recorded[] = [];

beforeAll(async () => {
  stack = await startStack();
  acme = await createTenant(stack, 'WebhookReplay');
});
afterAll(async () => {
  saveRecorded(recorded);
  await Promise.all(receivers.map((r) => r.close()));
  await stack?.close();
});

async function receiver(answer: Receiver['answer']): Promise<Receiver> {
  const r = await startReceiver(answer);
  receivers.push(r);
  return r;
}

it('a delivery retried by its backoff workflow, then delivered', async () => {
  const r = await receiver(({ index }) => ({ status: index < 2 ? 500 : 200 }));
  const endpoint = await seedEndpoint(stack, acme.id, r.url);
  const d = await seedDelivery(stack, acme.id, endpoint.id);
  await eventually(
    () => deliveryRow(stack, d.id),
    (row) => row.status === 'delivered',
    20_000,
  );
  const handle = stack.temporal.workflow.getHandle(`webhook-delivery-${d.id}`);
  expect(await handle.result()).toBe('delivered');
  recorded.push(await record(stack.temporal, 'webhook-delivery-retried', `webhook-delivery-${d.id}`));
}, 60_000);

it('a delivery retried until dead, then its endpoint bulk-redriven', async () => {
  let failing = true;
  const r = await receiver(() => ({ status: failing ? 500 : 200 }));
  const endpoint = await seedEndpoint(stack, acme.id, r.url);
  const d = await seedDelivery(stack, acme.id, endpoint.id);
  await eventually(
    () => deliveryRow(stack, d.id),
    (row) => row.status === 'dead',
    30_000,
  );
  expect(await stack.temporal.workflow.getHandle(`webhook-delivery-${d.id}`).result()).toBe('dead');
  recorded.push(await record(stack.temporal, 'webhook-delivery-dead', `webhook-delivery-${d.id}`));

  failing = false;
  const started = await http(stack, 'POST', `/api/v1/webhook-endpoints/${endpoint.id}/redrive`, {
    headers: acme.admin.headers,
    body: { since: new Date(Date.now() - 60 * 60 * 1000).toISOString() },
  });
  expect(started.status).toBe(202);
  const workflowId = webhookRedriveWorkflowId(started.body.id as string);
  await stack.temporal.workflow.getHandle(workflowId).result();
  await eventually(
    () => deliveryRow(stack, d.id),
    (row) => row.status === 'delivered',
    20_000,
  );
  recorded.push(await record(stack.temporal, 'webhook-redrive', workflowId));
}, 90_000);

it('the retention purge', async () => {
  const workflowId = `replay-webhook-retention-${randomUUID()}`;
  const input: WebhookRetentionInput = { retention_ms: 30 * 24 * 60 * 60 * 1000, batch_size: 100 };
  await stack.temporal.workflow.execute(WEBHOOK_RETENTION_WORKFLOW_TYPE, {
    taskQueue: stack.config.TEMPORAL_WEBHOOK_TASK_QUEUE,
    workflowId,
    args: [input],
  });
  recorded.push(await record(stack.temporal, 'webhook-retention', workflowId));
});

it('replay with the current workflow code', async () => {
  expect(recorded.map((r) => r.name)).toEqual(['webhook-delivery-retried', 'webhook-delivery-dead', 'webhook-redrive', 'webhook-retention']);
  expect(await replayAll(recorded)).toEqual([]);
}, 240_000);
