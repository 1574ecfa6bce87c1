/**
 * WORKER_TICKET_SHARDS: one worker process runs several ticket Workers on the one task queue, each polling under its
 * own identity with its share of the sticky cache; tickets are served as with one.
 */
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { temporal } from '@temporalio/proto';
import { startWorkerProcess, stopProcess } from '../support/processes';
import { createTenant, http, startStack, type Tenant, type TestStack } from '../support/stack';
import { CACHED_PER_SHARD, defaultTicketShards, MAX_DEFAULT_SHARDS, shareOf } from '../../workers/workflow-bundle';

const taskQueue = `shards-${randomUUID()}`;
let stack: TestStack;
let tenant: Tenant;
let worker: ChildProcess | undefined;

beforeAll(async () => {
  stack = await startStack({ TEMPORAL_TASK_QUEUE: taskQueue });
  tenant = await createTenant(stack);
  worker = await startWorkerProcess({ ...process.env, TEMPORAL_TASK_QUEUE: taskQueue, WORKER_TICKET_SHARDS: '2', WORKER_METRICS_ADDRESS: '' });
});
afterAll(async () => {
  if (worker) await stopProcess(worker);
  await stack.close();
});

it('unset, the shard count follows the sticky cache: one Worker per 2,500 cached, at least one, at most eight', () => {
  expect(CACHED_PER_SHARD).toBe(2_500);
  expect(MAX_DEFAULT_SHARDS).toBe(8);
  expect([0, 100, 2_500, 2_501, 9_720, 17_500, 17_501, 20_000, 30_080, 1_000_000].map((n) => defaultTicketShards(n))).toEqual([1, 1, 1, 2, 4, 7, 8, 8, 8, 8]);
  // Two workflow-task slots per Worker at least (the SDK would raise a share below two, past the configured total).
  expect(defaultTicketShards(30_080, 40)).toBe(8);
  expect(defaultTicketShards(30_080, 7)).toBe(3);
  expect(defaultTicketShards(30_080, 2)).toBe(1);
});

it("each shard's share of a total rounds up, and a disabled cache stays disabled", () => {
  expect([shareOf(40, 8), shareOf(40, 3), shareOf(3, 8), shareOf(0, 8)]).toEqual([5, 14, 1, 0]);
});

it('two ticket Workers poll the queue under their own identities and serve creates, changes and replies', async () => {
  const { pollers } = await stack.temporal.workflowService.describeTaskQueue({
    namespace: stack.config.TEMPORAL_NAMESPACE,
    taskQueue: { name: taskQueue, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
    taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
  });
  const identities = (pollers ?? []).map((p) => p.identity ?? '');
  expect(identities.filter((id) => /\/tickets-1$/.test(id))).toHaveLength(1);
  expect(identities.filter((id) => /\/tickets-2$/.test(id))).toHaveLength(1);

  const ids: string[] = [];
  for (let i = 0; i < 8; i++) {
    const created = await http(stack, 'POST', '/api/v1/tickets', {
      headers: tenant.headers,
      body: { subject: `Shard ${i}`, description: 'Which Worker takes me?', customer_id: tenant.customerId },
    });
    expect(created.status).toBe(201);
    ids.push(created.body.id);
  }
  for (const id of ids) {
    const patched = await http(stack, 'PATCH', `/api/v1/tickets/${id}`, {
      headers: { ...tenant.headers, 'If-Match': '"1"' },
      body: { priority: 'high' },
    });
    expect(patched.status).toBe(200);
    const replied = await http(stack, 'POST', `/api/v1/tickets/${id}/messages`, {
      headers: tenant.headers,
      body: { body: 'On it.', visibility: 'public' },
    });
    expect(replied.status).toBe(201);
    const read = await http(stack, 'GET', `/api/v1/tickets/${id}`, { headers: tenant.headers });
    expect(read.body).toMatchObject({ priority: 'high', version: 3 });
  }
});
