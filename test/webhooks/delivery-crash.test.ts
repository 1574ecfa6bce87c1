/**
 * Fault: the worker process is killed (SIGKILL) while a delivery's backoff workflow sleeps between two
 * retries. Another worker takes over: the delivery still arrives, and exactly once.
 */
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  WEBHOOK_DELIVERY_WORKFLOW_TYPE,
  type WebhookDeliveryInput,
  webhookDeliveryStartOptions,
  webhookDeliveryWorkflowId,
} from '../../workflows/webhook-delivery-contract';
import { startWorkerProcess, stopProcess } from '../support/processes';
import { createTenant, startStack, type TestStack } from '../support/stack';
import { deliveryRow, eventually, type Receiver, seedDelivery, seedEndpoint, startReceiver } from './support';

// This suite's own queues: only its workers run what it starts, so it can kill them.
const env = { ...process.env, TEMPORAL_TASK_QUEUE: `crash-tickets-${randomUUID()}`, TEMPORAL_WEBHOOK_TASK_QUEUE: `crash-webhooks-${randomUUID()}` };
let stack: TestStack;
let r: Receiver;
const workers: ChildProcess[] = [];

beforeAll(async () => {
  stack = await startStack(env);
});
afterAll(async () => {
  await Promise.all(workers.map((w) => stopProcess(w, 'SIGKILL')));
  await r?.close();
  await stack.close();
});

it('kill -9 the worker between retries, start another: delivered, once', async () => {
  const tenant = await createTenant(stack);
  r = await startReceiver(({ index }) => ({ status: index === 0 ? 500 : 200 }));
  const endpoint = await seedEndpoint(stack, tenant.id, r.url);
  r.secrets = [endpoint.secret];
  const d = await seedDelivery(stack, tenant.id, endpoint.id);
  // As the dispatcher leaves it after a failed first attempt (so no dispatcher picks it up again).
  await stack.admin.query("UPDATE webhook_deliveries SET status = 'retrying', attempts = 1, last_status = 500 WHERE id = $1", [d.id]);

  workers.push(await startWorkerProcess(env));
  // Short delays, so the kill lands in the second sleep (after one retry answered 500).
  const input: WebhookDeliveryInput = {
    tenant_id: tenant.id,
    delivery_id: d.id,
    first_delay_ms: 1000,
    policy: { max_retries: 3, base_delay_ms: 1000, max_delay_ms: 60_000 },
  };
  const handle = await stack.temporal.workflow.start(WEBHOOK_DELIVERY_WORKFLOW_TYPE, webhookDeliveryStartOptions(env.TEMPORAL_WEBHOOK_TASK_QUEUE, input));
  expect(handle.workflowId).toBe(webhookDeliveryWorkflowId(d.id));

  // The first retry (500) has been made and the workflow sleeps before the next one (2 s+).
  const timers = async () => (await handle.fetchHistory()).events!.filter((e) => e.timerStartedEventAttributes).length;
  expect(await eventually(timers, (n) => n >= 2, 30_000)).toBe(2);
  expect(r.received.map((x) => x.status)).toEqual([500]);
  await stopProcess(workers[0]!, 'SIGKILL');
  await new Promise((resolve) => setTimeout(resolve, 3000)); // the timer fires with no worker to run it
  expect(r.received).toHaveLength(1);

  workers.push(await startWorkerProcess(env));
  expect(await handle.result()).toBe('delivered');
  expect(await deliveryRow(stack, d.id)).toMatchObject({ status: 'delivered', attempts: 3, last_status: 200 });
  await new Promise((resolve) => setTimeout(resolve, 1000)); // nothing arrives late
  expect(r.received.map((x) => x.status)).toEqual([500, 200]);
  expect(new Set(r.received.map((x) => x.headers['webhook-id']))).toEqual(new Set([`msg_${d.id}`]));
  expect(r.problems).toEqual([]);
  const { rows } = await stack.admin.query('SELECT status_code FROM webhook_attempts WHERE delivery_id = $1 ORDER BY attempted_at', [d.id]);
  expect(rows.map((x) => x.status_code)).toEqual([500, 200]);
}, 120_000);
