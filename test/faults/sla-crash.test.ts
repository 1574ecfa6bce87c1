/**
 * Faults around SLA clocks: the worker dies before a deadline, in the middle of an escalation, or in
 * the middle of a rollout. Each breach, escalation action and re-target lands exactly once.
 */
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { createPolicy, eventually, ofType, openTicket, sleep, timeline } from '../sla/support';
import { startWorkerProcess, stopProcess } from '../support/processes';
import { createTenant, http, startStack, type Tenant, type TestStack } from '../support/stack';

/** Waits until one backend waits on a lock running a statement like `pattern`; returns its pid. */
async function blockedBackend(stack: TestStack, pattern: string, timeoutMs = 20_000): Promise<number> {
  const rows = await eventually(
    async () => (await stack.admin.query(`SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1`, [pattern])).rows,
    (r) => r.length === 1,
    timeoutMs,
  );
  expect(rows).toHaveLength(1);
  return rows[0].pid;
}

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
        actions: [
          { type: 'set_priority', priority: 'urgent' },
          { type: 'add_tag', tag: 'escalated' },
          { type: 'notify', assignee: true },
        ],
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
  await eventually(
    () => timeline(stack, tenant, ticket.id),
    (e) => ofType(e, 'sla.escalated').length >= 1,
    40_000,
  );
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

it('kill -9 the worker between the breach decision and its actions: breach, escalation and actions land once', async () => {
  const env = { ...process.env, TEMPORAL_TASK_QUEUE: taskQueue };
  if (workers.every((w) => w.exitCode !== null || w.signalCode !== null)) workers.push(await startWorkerProcess(env));
  const t = await createTenant(stack, 'Mid-escalation');
  await createPolicy(stack, t, {
    name: 'Five seconds',
    targets: { normal: { first_reply: 5 / 60 } },
    escalation_rules: [
      {
        id: 'on-breach',
        trigger: { type: 'breach' },
        actions: [{ type: 'set_priority', priority: 'urgent' }, { type: 'add_tag', tag: 'escalated' }, { type: 'emit' }],
      },
    ],
  });
  const ticket = await openTicket(stack, t, { assignee_id: t.agent.id });

  // Hold the ticket's row: at the deadline the workflow decides the breach and its escalation, and the
  // one write that carries them (and the escalation's changes) waits. Kill the worker there, and end
  // its waiting statement too, so nothing the dead worker decided reaches the database.
  const blocker = new pg.Client({ connectionString: stack.config.DATABASE_ADMIN_URL });
  await blocker.connect();
  try {
    await blocker.query('BEGIN');
    await blocker.query('SELECT 1 FROM tickets WHERE id = $1 FOR UPDATE', [ticket.id]);
    const pid = await blockedBackend(stack, '%INSERT INTO tickets%');
    await stopProcess(workers[workers.length - 1]!, 'SIGKILL');
    await stack.admin.query('SELECT pg_terminate_backend($1)', [pid]);
    await blocker.query('COMMIT');
  } finally {
    await blocker.end();
  }
  expect(ofType(await timeline(stack, t, ticket.id), 'sla.breached')).toHaveLength(0);

  workers.push(await startWorkerProcess(env));
  await eventually(
    () => timeline(stack, t, ticket.id),
    (e) => ofType(e, 'sla.escalated').length >= 1,
    40_000,
  );
  await sleep(2000); // a duplicate would have arrived by now
  const events = await timeline(stack, t, ticket.id);
  expect(ofType(events, 'sla.breached')).toHaveLength(1);
  const escalations = ofType(events, 'sla.escalated');
  expect(escalations).toHaveLength(1);
  expect(escalations[0]!.data).toMatchObject({
    rule_id: 'on-breach',
    emit: true,
    changes: { priority: { from: 'normal', to: 'urgent' }, tags: { from: [], to: ['escalated'] } },
  });
  expect((await http(stack, 'GET', `/api/v1/tickets/${ticket.id}`, { headers: t.headers })).body).toMatchObject({ priority: 'urgent', tags: ['escalated'] });
  const versions = events.map((e) => e.version);
  expect(versions).toEqual([...new Set(versions)].sort((a, b) => a - b));
  const audit = await stack.admin.query(
    "SELECT action, count(*)::int AS n FROM audit_log WHERE entity_id = $1 AND action IN ('sla.breached', 'sla.escalated') GROUP BY action ORDER BY action",
    [ticket.id],
  );
  expect(audit.rows).toEqual([
    { action: 'sla.breached', n: 1 },
    { action: 'sla.escalated', n: 1 },
  ]);
}, 120_000);

it('kill -9 the worker in the middle of a rollout, twice: every open ticket moves once', async () => {
  const env = { ...process.env, TEMPORAL_TASK_QUEUE: taskQueue };
  if (workers.every((w) => w.exitCode !== null || w.signalCode !== null)) workers.push(await startWorkerProcess(env));
  const t = await createTenant(stack, 'Mid-rollout');
  const policy = await createPolicy(stack, t, { name: 'Ten minutes', targets: { normal: { first_reply: 10 } } });
  const tickets = [await openTicket(stack, t), await openTicket(stack, t), await openTicket(stack, t)];
  const rollout = stack.temporal.workflow.getHandle(`sla-rollout-policy-${policy.id}-v2`);

  // 1. The rollout has started and its read of the open tickets is held: kill the worker there.
  const blocker = new pg.Client({ connectionString: stack.config.DATABASE_ADMIN_URL });
  await blocker.connect();
  try {
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE tickets IN ACCESS EXCLUSIVE MODE');
    const edit = await http(stack, 'PATCH', `/api/v1/sla-policies/${policy.id}`, {
      headers: t.admin.headers,
      body: { targets: { normal: { first_reply: 20 } } },
    });
    expect(edit.status).toBe(200);
    const pid = await blockedBackend(stack, '%sla_policy_id = ANY%');
    await stopProcess(workers[workers.length - 1]!, 'SIGKILL');
    await stack.admin.query('SELECT pg_terminate_backend($1)', [pid]);
    await blocker.query('COMMIT');
  } finally {
    await blocker.end();
  }
  workers.push(await startWorkerProcess(env));
  const moved = async () => Promise.all(tickets.map(async (x) => (await http(stack, 'GET', `/api/v1/tickets/${x.id}`, { headers: t.headers })).body.sla));
  await eventually(moved, (slas) => slas.every((s) => s.policy_version === 2), 45_000);

  // 2. The first pass is done and the rollout waits for its second: kill the worker again, there.
  expect((await rollout.describe()).status.name).toBe('RUNNING');
  await stopProcess(workers[workers.length - 1]!, 'SIGKILL');
  workers.push(await startWorkerProcess(env));
  expect(await rollout.result()).toBe(tickets.length);

  for (const x of tickets) {
    const events = await timeline(stack, t, x.id);
    expect(ofType(events, 'sla.retargeted').map((e) => [e.data.reason, e.data.policy_version])).toEqual([['policy_updated', 2]]);
    const m = events.find((e) => e.type === 'sla.retargeted')!.data.due.first_reply;
    expect(m).toBe(new Date(Date.parse(x.created_at) + 20 * 60_000).toISOString());
  }
  const row = await stack.admin.query('SELECT started_at FROM sla_rollout_outbox WHERE workflow_id = $1', [rollout.workflowId]);
  expect(row.rows[0].started_at).not.toBeNull();
}, 150_000);
