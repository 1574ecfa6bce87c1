/**
 * /readyz says ready only once the API has warmed up and a worker that has warmed up serves its task queue
 * (issue #12: it used to say ready while the worker was still starting, and the first creates waited seconds).
 * The worker counts from its warm-up until it stops; once seen, the API stays ready without one (reads go on).
 */
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { countWarmWorkers } from '../../platform/worker-readiness';
import { startWorkerProcess, stopProcess } from '../support/processes';
import { http, startStack, type TestStack } from '../support/stack';

// A task queue of its own: no worker serves it until this test starts one.
const taskQueue = `readiness-${randomUUID()}`;
let stack: TestStack;
let worker: ChildProcess | undefined;

beforeAll(async () => {
  stack = await startStack({ TEMPORAL_TASK_QUEUE: taskQueue });
});
afterAll(async () => {
  if (worker) await stopProcess(worker, 'SIGKILL');
  await stack?.close();
});

it('is 503 until a worker has warmed up on the task queue, then 200, and stays 200 (saying so) once it stops', async () => {
  const before = await http(stack, 'GET', '/readyz');
  expect(before.status).toBe(503);
  expect(before.body.status).toBe('not_ready');
  expect(before.body.checks).toMatchObject({ postgres: 'ok', redis: 'ok', temporal: 'ok', api: 'ok' });
  expect(before.body.checks.worker).toMatch(/no warm worker on task queue/);

  // Resolves once the worker logs that its warm-up workflows went through the task queue.
  worker = await startWorkerProcess({ ...process.env, TEMPORAL_TASK_QUEUE: taskQueue });
  expect(await countWarmWorkers(stack.redis, taskQueue)).toBe(1);
  const ready = await http(stack, 'GET', '/readyz');
  expect(ready.status).toBe(200);
  expect(ready.body).toEqual({ status: 'ready', checks: { lifecycle: 'ok', postgres: 'ok', redis: 'ok', temporal: 'ok', api: 'ok', worker: 'ok' } });

  // Stopped (SIGTERM: it withdraws before draining), it no longer counts; the API stays in rotation for reads.
  await stopProcess(worker);
  worker = undefined;
  expect(await countWarmWorkers(stack.redis, taskQueue)).toBe(0);
  const after = await http(stack, 'GET', '/readyz');
  expect(after.status).toBe(200);
  expect(after.body.checks.worker).toBe('ok (no warm worker now: writes wait for one)');
}, 120_000);
