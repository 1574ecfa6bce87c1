/**
 * Fault: the API process dies in the middle of a create (the ticket's workflow is started, nothing is
 * answered yet). The client retries with the same Idempotency-Key on another API process and gets the
 * one ticket that request made: never two, never none.
 */
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { TicketSearchAttributes as SA } from '../../domain/search-attributes';
import { type ApiProcess, startApiProcess } from '../support/api-process';
import { startWorkerProcess, stopProcess } from '../support/processes';
import { createTenant, http, startStack, type Tenant, type TestStack } from '../support/stack';

// A task queue of its own, with no worker at first: the create is then provably in flight when the API dies.
const taskQueue = `api-crash-${randomUUID()}`;
let stack: TestStack;
let tenant: Tenant;
const children: ChildProcess[] = [];
const apis: ApiProcess[] = [];

beforeAll(async () => {
  stack = await startStack({ TEMPORAL_TASK_QUEUE: taskQueue });
  tenant = await createTenant(stack, 'Crashy');
});
afterAll(async () => {
  await Promise.all([...apis.map((a) => a.stop()), ...children.map((c) => stopProcess(c, 'SIGKILL'))]);
  await stack?.close();
});

it('kill -9 the API mid-create, retry with the same Idempotency-Key elsewhere: exactly one ticket', async () => {
  const first = await startApiProcess({ TEMPORAL_TASK_QUEUE: taskQueue }, { withoutWorker: true });
  apis.push(first);
  const subject = `Crash probe ${randomUUID()}`;
  const body = { subject, description: 'Sent once, answered after a crash.', customer_id: tenant.customerId };
  const headers = { ...tenant.headers, 'Idempotency-Key': `crash-${randomUUID()}` };

  const inFlight = http(first, 'POST', '/api/v1/tickets', { headers, body }).then(
    (res) => ({ answered: res.status }),
    () => ({ answered: 'connection lost' as const }),
  );
  // Wait until the workflow exists on the server: the request got that far and now waits for a worker.
  const query = `${SA.tenant.name} = '${tenant.id}' AND ExecutionStatus = 'Running'`;
  let workflowId: string | undefined;
  const deadline = Date.now() + 20_000;
  while (!workflowId && Date.now() < deadline) {
    for await (const wf of stack.temporal.workflow.list({ query })) workflowId = wf.workflowId;
    if (!workflowId) await new Promise((r) => setTimeout(r, 200));
  }
  expect(workflowId).toMatch(/^ticket-/);
  first.child.kill('SIGKILL');
  expect(await inFlight).toEqual({ answered: 'connection lost' });
  const rows = async () => (await stack.admin.query('SELECT id FROM tickets WHERE subject = $1', [subject])).rows.map((r) => r.id);
  expect(await rows()).toEqual([]); // nothing was acknowledged, nothing persisted yet

  children.push(await startWorkerProcess({ ...process.env, TEMPORAL_TASK_QUEUE: taskQueue }));
  const second = await startApiProcess({ TEMPORAL_TASK_QUEUE: taskQueue });
  apis.push(second);
  const retried = await http(second, 'POST', '/api/v1/tickets', { headers, body });
  expect(retried.status).toBe(201);
  expect(`ticket-${retried.body.id}`).toBe(workflowId);
  expect(await rows()).toEqual([retried.body.id]);

  // And the retry of the retry is the saved answer.
  const again = await http(second, 'POST', '/api/v1/tickets', { headers, body });
  expect(again.status).toBe(201);
  expect(again.headers.get('idempotent-replayed')).toBe('true');
  expect(again.body.id).toBe(retried.body.id);
  expect(await rows()).toEqual([retried.body.id]);
}, 120_000);
