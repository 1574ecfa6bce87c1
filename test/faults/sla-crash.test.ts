/**
 * Fault: the worker dies before an SLA deadline and comes back after it. The breach fires exactly
 * once and its escalation actions run exactly once: no duplicates, no misses.
 */
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createPolicy, eventually, ofType, openTicket, sleep, timeline } from '../sla/support';
import { startWorkerProcess, stopProcess } from '../support/processes';
import { createTenant, http, startStack, type Tenant, type TestStack } from '../support/stack';

const taskQueue = `sla-fault-${randomUUID()}`;
let stack: TestStack;
let tenant: Tenant;
const workers: ChildProcess[] = [];

beforeAll(async () => {
  stack = await startStack({ TEMPORAL_TASK_QUEUE: taskQueue });
  tenant = await createTenant(stack, 'Crashy');
});
afterAll(async () => {
  await Promise.all(workers.map((w) => stopProcess(w, 'SIGKILL')));
  await stack.close();
});

it('kill -9 the worker across a deadline: one breach, one escalation, its actions once', async () => {
  const env = { ...process.env, TEMPORAL_TASK_QUEUE: taskQueue };
  workers.push(await startWorkerProcess(env));
  await createPolicy(stack, tenant, {
    name: 'Eight seconds',
    targets: { normal: { first_reply: 8 / 60 } },
    escalation_rules: [
      {
        id: 'on-breach',
        trigger: { type: 'breach' },
        actions: [{ type: 'set_priority', priority: 'urgent' }, { type: 'add_tag', tag: 'escalated' }, { type: 'notify', assignee: true }],
      },
    ],
  });
  const ticket = await openTicket(stack, tenant, { assignee_id: tenant.agent.id });
  const due = Date.parse(ticket.sla.metrics[0].due_at);

  await stopProcess(workers[0]!, 'SIGKILL'); // well before the deadline
  const untilAfterDue = due + 2000 - Date.now();
  expect(untilAfterDue).toBeGreaterThan(0);
  await sleep(untilAfterDue);
  expect(ofType(await timeline(stack, tenant, ticket.id), 'sla.breached')).toHaveLength(0); // nobody was there to see it

  workers.push(await startWorkerProcess(env));
  await eventually(() => timeline(stack, tenant, ticket.id), (e) => ofType(e, 'sla.escalated').length >= 1, 40_000);
  await sleep(2000); // a duplicate would have arrived by now

  const events = await timeline(stack, tenant, ticket.id);
  expect(ofType(events, 'sla.breached')).toHaveLength(1);
  expect(ofType(events, 'sla.breached')[0]!.data.due_at).toBe(new Date(due).toISOString());
  const escalations = ofType(events, 'sla.escalated');
  expect(escalations).toHaveLength(1);
  expect(escalations[0]!.data).toMatchObject({
    rule_id: 'on-breach',
    changes: { priority: { from: 'normal', to: 'urgent' }, tags: { from: [], to: ['escalated'] } },
    notify: { assignee_id: tenant.agent.id },
  });
  const now = (await http(stack, 'GET', `/api/v1/tickets/${ticket.id}`, { headers: tenant.headers })).body;
  expect(now).toMatchObject({ priority: 'urgent', tags: ['escalated'] });
  // The projection and the audit trail saw each version once.
  const versions = events.map((e) => e.version);
  expect(versions).toEqual([...new Set(versions)].sort((a, b) => a - b));
  const audit = await stack.admin.query("SELECT count(*)::int AS n FROM audit_log WHERE entity_id = $1 AND action = 'sla.escalated'", [ticket.id]);
  expect(audit.rows[0].n).toBe(1);
});
