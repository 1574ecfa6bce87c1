/**
 * Fault: the worker process dies in the middle of a PATCH. A second worker takes over and the change
 * is applied exactly once: one new version, one timeline event, and the client still gets its 200.
 */
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { ticketWorkflowId } from '../../domain/ids';
import { getTicketQuery } from '../../workflows/ticket-contract';
import { startWorkerProcess, stopProcess } from '../support/processes';
import { createTenant, http, startStack, type Tenant, type TestStack } from '../support/stack';

const taskQueue = `fault-${randomUUID()}`;
let stack: TestStack;
let tenant: Tenant;
const workers: ChildProcess[] = [];

beforeAll(async () => {
  stack = await startStack({ TEMPORAL_TASK_QUEUE: taskQueue });
  tenant = await createTenant(stack);
});
afterAll(async () => {
  await Promise.all(workers.map((w) => stopProcess(w, 'SIGKILL')));
  await stack.close();
});

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

it('kill -9 the worker mid-PATCH, start another: applied exactly once, nothing lost', async () => {
  const env = { ...process.env, TEMPORAL_TASK_QUEUE: taskQueue };
  workers.push(await startWorkerProcess(env));

  const created = await http(stack, 'POST', '/api/v1/tickets', {
    headers: tenant.headers,
    body: { subject: 'Crash me', description: 'Worker, please die.', customer_id: tenant.customerId },
  });
  expect(created.status).toBe(201);
  const id: string = created.body.id;

  // Hold the ticket row so the worker's projection write blocks: the PATCH is provably in flight.
  const blocker = new pg.Client({ connectionString: stack.config.DATABASE_ADMIN_URL }); // the owner: RLS would hide the row
  await blocker.connect();
  await blocker.query('BEGIN');
  await blocker.query('SELECT 1 FROM tickets WHERE id = $1 FOR UPDATE', [id]);

  const patch = http(stack, 'PATCH', `/api/v1/tickets/${id}`, {
    headers: { ...tenant.headers, 'If-Match': '"1"' },
    body: { status: 'pending', priority: 'urgent' },
  });
  await waitFor('the worker to block on the projection write', async () => {
    const { rowCount } = await stack.admin.query(`SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%INSERT INTO tickets%'`);
    return rowCount === 1;
  });

  await stopProcess(workers[0]!, 'SIGKILL');
  await blocker.query('ROLLBACK');
  await blocker.end();
  workers.push(await startWorkerProcess(env));

  const res = await patch;
  expect(res.status).toBe(200);
  expect(res.body).toMatchObject({ status: 'pending', priority: 'urgent', version: 2 });

  const read = await http(stack, 'GET', `/api/v1/tickets/${id}`, { headers: tenant.headers });
  expect(read.body).toMatchObject({ status: 'pending', priority: 'urgent', version: 2 });
  const events = await stack.admin.query('SELECT version, type FROM ticket_events WHERE ticket_id = $1 ORDER BY version', [id]);
  expect(events.rows).toEqual([
    { version: 1, type: 'ticket.created' },
    { version: 2, type: 'ticket.updated' },
  ]);

  const handle = stack.temporal.workflow.getHandle(ticketWorkflowId(id));
  expect(await handle.query(getTicketQuery)).toMatchObject({ version: 2, status: 'pending' });
  const history = await handle.fetchHistory();
  const completed = history.events!.filter((e) => e.workflowExecutionUpdateCompletedEventAttributes);
  expect(completed).toHaveLength(2); // the create's update and exactly one PATCH

  // And the new worker carries on normally.
  const next = await http(stack, 'PATCH', `/api/v1/tickets/${id}`, { headers: tenant.headers, body: { status: 'open' } });
  expect(next.body.version).toBe(3);
});
