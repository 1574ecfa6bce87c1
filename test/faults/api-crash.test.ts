/**
 * Fault: the API process dies in the middle of a create (the ticket's workflow is started, nothing is
 * answered yet). The client retries with the same Idempotency-Key on another API process and gets the
 * one ticket that request made: never two, never none.
 * And with no worker at all, a create is answered 503 after TICKET_WRITE_TIMEOUT instead of hanging;
 * its retry, once a worker runs, is that same one ticket.
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
let waiting: Tenant; // the no-worker test's own tenant: the crash test finds its workflow by tenant
const children: ChildProcess[] = [];
const apis: ApiProcess[] = [];

/** Each step bounded on its own, so a failure names the step (and shows the processes' output) rather than the test's timeout. */
async function step<T>(what: string, ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done in ${ms / 1000} s\n${apis.map((a) => a.output()).join('\n---\n')}`)), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}
const ticketRows = async (subject: string) => (await stack.admin.query('SELECT id FROM tickets WHERE subject = $1', [subject])).rows.map((r) => r.id as string);
const timedOut = {
  subject: `Timeout probe ${randomUUID()}`,
  key: `timeout-${randomUUID()}`,
};
/** The no-worker test's create, sent first to an API without a worker, later retried as is. */
const createTimedOut = (api: ApiProcess) =>
  http(api, 'POST', '/api/v1/tickets', {
    headers: { ...waiting.headers, 'Idempotency-Key': timedOut.key },
    body: { subject: timedOut.subject, description: 'Nobody works this queue yet.', customer_id: waiting.customerId },
  });

beforeAll(async () => {
  stack = await startStack({ TEMPORAL_TASK_QUEUE: taskQueue });
  tenant = await createTenant(stack, 'Crashy');
  waiting = await createTenant(stack, 'Waiting');
});
afterAll(async () => {
  await Promise.all([...apis.map((a) => a.stop()), ...children.map((c) => stopProcess(c, 'SIGKILL'))]);
  await stack?.close();
});

it('no worker: a create is answered 503 after TICKET_WRITE_TIMEOUT (Retry-After), not held open', async () => {
  const api = await step('start an API', 60_000, startApiProcess({ TEMPORAL_TASK_QUEUE: taskQueue, TICKET_WRITE_TIMEOUT: '2s' }, { withoutWorker: true }));
  apis.push(api);
  const started = Date.now();
  const res = await step('a create without a worker', 30_000, createTimedOut(api));
  expect({ status: res.status, code: res.body.code }).toEqual({ status: 503, code: 'service_unavailable' });
  expect(res.body.detail).toMatch(/same Idempotency-Key/);
  expect(res.headers.get('retry-after')).toBe('1');
  expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
  expect(await ticketRows(timedOut.subject)).toEqual([]); // not confirmed, not projected
});

it('kill -9 the API mid-create, retry with the same Idempotency-Key elsewhere: exactly one ticket', async () => {
  const first = await step('start the first API', 60_000, startApiProcess({ TEMPORAL_TASK_QUEUE: taskQueue }, { withoutWorker: true }));
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
  expect(await step('the killed request', 10_000, inFlight)).toEqual({ answered: 'connection lost' });
  const rows = () => ticketRows(subject);
  expect(await rows()).toEqual([]); // nothing was acknowledged, nothing persisted yet

  children.push(await step('start a worker', 60_000, startWorkerProcess({ ...process.env, TEMPORAL_TASK_QUEUE: taskQueue })));
  const second = await step('start a second API', 60_000, startApiProcess({ TEMPORAL_TASK_QUEUE: taskQueue }));
  apis.push(second);
  const retried = await step('the retried create', 40_000, http(second, 'POST', '/api/v1/tickets', { headers, body }));
  expect(retried.status).toBe(201);
  expect(`ticket-${retried.body.id}`).toBe(workflowId);
  expect(await rows()).toEqual([retried.body.id]);

  // And the retry of the retry is the saved answer.
  const again = await step('the retry of the retry', 40_000, http(second, 'POST', '/api/v1/tickets', { headers, body }));
  expect(again.status).toBe(201);
  expect(again.headers.get('idempotent-replayed')).toBe('true');
  expect(again.body.id).toBe(retried.body.id);
  expect(await rows()).toEqual([retried.body.id]);

  // The create that timed out earlier (503) was queued on its workflow: its retry is that one ticket.
  const late = await step('the retried timed-out create', 40_000, createTimedOut(second));
  expect(late.status).toBe(201);
  expect(await ticketRows(timedOut.subject)).toEqual([late.body.id]);
}, 240_000);
