/**
 * SLA policy changes reach every open ticket: durably (an outbox row commits with the change, so an
 * API that dies before starting the rollout loses nothing) and without missing a ticket whose creation
 * was in flight across the change. Policy references must be the tenant's own.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server, type Socket, connect } from 'node:net';
import { WorkflowNotFoundError } from '@temporalio/client';
import pg from 'pg';
import { ticketWorkflowId } from '../../domain/ids';
import { slaConfigChangedSignal } from '../../workflows/ticket-contract';
import { startApiProcess } from '../support/api-process';
import { stopProcess } from '../support/processes';
import { createTenant, http, startStack, type Tenant, type TestStack } from '../support/stack';
import { createPolicy, eventually, ofType, openTicket, sleep, timeline } from './support';

let stack: TestStack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());

const ms = (iso: string) => Date.parse(iso);
const firstReply = (sla: any) => sla.metrics.find((m: any) => m.metric === 'first_reply');
const getTicket = async (tenant: Tenant, id: string) => (await http(stack, 'GET', `/api/v1/tickets/${id}`, { headers: tenant.headers })).body;
const editTargets = (tenant: Tenant, policyId: string, minutes: number, api: { url: string } = stack) =>
  http(api, 'PATCH', `/api/v1/sla-policies/${policyId}`, { headers: tenant.admin.headers, body: { targets: { normal: { first_reply: minutes } } } });

/** A TCP relay to the Temporal server that can be frozen: bytes sent after `freeze()` never arrive. */
async function freezableProxy(target: string) {
  const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  const pairs: [Socket, Socket][] = [];
  let frozen = false;
  const server: Server = createServer((client) => {
    if (frozen) return void client.pause();
    const upstream = connect(port, host);
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    pairs.push([client, upstream]);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${(server.address() as { port: number }).port}`,
    freeze() {
      frozen = true;
      for (const [client, upstream] of pairs) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
      }
    },
    close() {
      for (const [client, upstream] of pairs) {
        client.destroy();
        upstream.destroy();
      }
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('a policy change and its rollout', () => {
  it('the API dies between the commit and the start of the rollout: the open ticket still moves to the new deadline', async () => {
    const tenant = await createTenant(stack, 'Outbox');
    const policy = await createPolicy(stack, tenant, { name: 'Ten minutes', targets: { normal: { first_reply: 10 } } });
    const ticket = await openTicket(stack, tenant);
    expect(ms(firstReply(ticket.sla).due_at)).toBe(ms(ticket.created_at) + 10 * 60_000);

    // A second API process whose only way to Temporal is a relay we freeze: its PATCH commits, and the
    // start of the rollout that follows can never leave the process. Then kill -9 it.
    const proxy = await freezableProxy(stack.config.TEMPORAL_ADDRESS!);
    const api = await startApiProcess({ TEMPORAL_ADDRESS: proxy.address });
    try {
      proxy.freeze();
      const answer = editTargets(tenant, policy.id, 20, api).catch(() => null);
      const workflowId = `sla-rollout-policy-${policy.id}-v2`;
      const committed = await eventually(
        async () => (await stack.admin.query('SELECT started_at FROM sla_rollout_outbox WHERE workflow_id = $1', [workflowId])).rows,
        (rows) => rows.length === 1,
        15_000,
      );
      expect(committed).toEqual([{ started_at: null }]);
      await expect(stack.temporal.workflow.getHandle(workflowId).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
      await stopProcess(api.child, 'SIGKILL');
      expect(await answer).toBeNull(); // the client never got its answer

      // The relay in the worker finds the pending row and starts the rollout: the deadline moves.
      const sla = await eventually(
        async () => (await getTicket(tenant, ticket.id)).sla,
        (s) => s.policy_version === 2,
        20_000,
      );
      expect(ms(firstReply(sla).due_at)).toBe(ms(ticket.created_at) + 20 * 60_000);
      const row = await eventually(
        async () => (await stack.admin.query('SELECT started_at FROM sla_rollout_outbox WHERE workflow_id = $1', [workflowId])).rows[0],
        (r) => r.started_at !== null,
      );
      expect(row.started_at).not.toBeNull();
      expect(ofType(await timeline(stack, tenant, ticket.id), 'sla.retargeted').map((e) => e.data.reason)).toEqual(['policy_updated']);
    } finally {
      await stopProcess(api.child, 'SIGKILL');
      await proxy.close();
    }
  });

  it('tickets created 0–50 ms before a policy change end up on the new deadlines', async () => {
    const tenant = await createTenant(stack, 'Racy');
    const policy = await createPolicy(stack, tenant, { name: 'Racy', targets: { normal: { first_reply: 10 } } });
    const creating = [50, 40, 30, 20, 10, 0].map(async (before) => {
      await sleep(50 - before);
      return openTicket(stack, tenant);
    });
    await sleep(50);
    const edit = await editTargets(tenant, policy.id, 30);
    expect(edit.status).toBe(200);
    for (const ticket of await Promise.all(creating)) {
      const sla = await eventually(
        async () => (await getTicket(tenant, ticket.id)).sla,
        (s) => s.policy_version === edit.body.version,
        10_000,
      );
      expect(sla.policy_version).toBe(edit.body.version);
      expect(ms(firstReply(sla).due_at)).toBe(ms(ticket.created_at) + 30 * 60_000);
    }
  });

  it('a ticket whose opening write is held across the change, so no rollout can see it, re-matches at that write', async () => {
    const tenant = await createTenant(stack, 'Held');
    const policy = await createPolicy(stack, tenant, { name: 'Held', targets: { normal: { first_reply: 10 } } });
    // Hold every ticket write: the new ticket's workflow matched v1 and waits to project it.
    const blocker = new pg.Client({ connectionString: stack.config.DATABASE_ADMIN_URL });
    await blocker.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE tickets IN SHARE ROW EXCLUSIVE MODE');
      const creating = openTicket(stack, tenant);
      await eventually(
        async () => (await stack.admin.query(`SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%INSERT INTO tickets%'`)).rowCount,
        (n) => n === 1,
      );
      const edit = await editTargets(tenant, policy.id, 30);
      expect(edit.status).toBe(200);
      // The rollout's first pass has run (and found no ticket: none is committed).
      const rollout = stack.temporal.workflow.getHandle(`sla-rollout-policy-${policy.id}-v2`);
      await eventually(
        async () => (await rollout.fetchHistory()).events!.some((e) => e.activityTaskCompletedEventAttributes),
        (done) => done,
        15_000,
      );
      await blocker.query('COMMIT');
      const ticket = await creating;
      const sla = await eventually(
        async () => (await getTicket(tenant, ticket.id)).sla,
        (s) => s.policy_version === 2,
        10_000,
      );
      expect(ms(firstReply(sla).due_at)).toBe(ms(ticket.created_at) + 30 * 60_000);
    } finally {
      await blocker.query('ROLLBACK').catch(() => undefined);
      await blocker.end();
    }
  });

  it('signalling a ticket whose workflow has closed (or never ran) is a WorkflowNotFoundError, which the rollout skips', async () => {
    const tenant = await createTenant(stack, 'Closed');
    const ticket = await openTicket(stack, tenant);
    const solved = await http(stack, 'PATCH', `/api/v1/tickets/${ticket.id}`, { headers: tenant.headers, body: { status: 'solved' } });
    expect(solved.status).toBe(200);
    await eventually(
      () => getTicket(tenant, ticket.id),
      (t) => t.status === 'closed',
    ); // auto-close after 2 s in tests
    const handle = stack.temporal.workflow.getHandle(ticketWorkflowId(ticket.id));
    await eventually(
      async () => (await handle.describe()).status.name,
      (s) => s === 'COMPLETED',
    );
    await expect(handle.signal(slaConfigChangedSignal, { reason: 'policy_updated' })).rejects.toBeInstanceOf(WorkflowNotFoundError);
    await expect(
      stack.temporal.workflow.getHandle(ticketWorkflowId(randomUUID())).signal(slaConfigChangedSignal, { reason: 'policy_updated' }),
    ).rejects.toBeInstanceOf(WorkflowNotFoundError);
  });
});

describe("policy references must be the tenant's own", () => {
  let tenant: Tenant;
  let other: Tenant;
  let otherGroup: string;
  beforeAll(async () => {
    [tenant, other] = [await createTenant(stack, 'Refs'), await createTenant(stack, 'Others')];
    otherGroup = (await http(stack, 'POST', '/api/v1/groups', { headers: other.admin.headers, body: { name: 'Theirs' } })).body.id;
  });
  const count = async () => (await stack.admin.query('SELECT count(*)::int AS n FROM sla_policies WHERE tenant_id = $1', [tenant.id])).rows[0].n;
  const rule = (actions: unknown[]) => [{ id: 'r', trigger: { type: 'breach' }, actions }];

  it.each([
    ["another tenant's customer", () => ({ conditions: { customer_ids: [other.customerId] } }), 'conditions.customer_ids[0]'],
    ['a random customer id', () => ({ conditions: { customer_ids: [tenant.customerId, randomUUID()] } }), 'conditions.customer_ids[1]'],
    [
      "another tenant's user to notify",
      () => ({ escalation_rules: rule([{ type: 'notify', user_ids: [other.agent.id] }]) }),
      'escalation_rules[0].actions[0].user_ids[0]',
    ],
    [
      'a random user to notify',
      () => ({ escalation_rules: rule([{ type: 'notify', user_ids: [tenant.agent.id, randomUUID()] }]) }),
      'escalation_rules[0].actions[0].user_ids[1]',
    ],
    [
      "another tenant's user as reassign target",
      () => ({ escalation_rules: rule([{ type: 'emit' }, { type: 'reassign', assignee_id: other.admin.id }]) }),
      'escalation_rules[0].actions[1].assignee_id',
    ],
    [
      'a random reassign target',
      () => ({ escalation_rules: rule([{ type: 'reassign', assignee_id: randomUUID() }]) }),
      'escalation_rules[0].actions[0].assignee_id',
    ],
    [
      "another tenant's group as reassign target",
      () => ({ escalation_rules: rule([{ type: 'reassign', group_id: otherGroup }]) }),
      'escalation_rules[0].actions[0].group_id',
    ],
    ['a random reassign group', () => ({ escalation_rules: rule([{ type: 'reassign', group_id: randomUUID() }]) }), 'escalation_rules[0].actions[0].group_id'],
  ])('%s: 422 naming the field, nothing stored', async (_, body, path) => {
    const before = await count();
    const res = await http(stack, 'POST', '/api/v1/sla-policies', {
      headers: tenant.admin.headers,
      body: { name: 'Bad refs', position: 1, targets: { normal: { first_reply: 60 } }, ...body() },
    });
    expect(res.status).toBe(422);
    expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(res.body).toMatchObject({ code: 'rule_violation', errors: [{ path, message: expect.stringMatching(/in this tenant/) }] });
    expect(await count()).toBe(before);
  });

  it('a PATCH with a foreign reference is refused and leaves the policy (and its tickets) as they were', async () => {
    const policy = await createPolicy(stack, tenant, {
      name: 'Good refs',
      conditions: { customer_ids: [tenant.customerId] },
      targets: { normal: { first_reply: 60 } },
      escalation_rules: rule([
        { type: 'notify', user_ids: [tenant.agent.id] },
        { type: 'reassign', assignee_id: tenant.admin.id },
      ]),
    });
    const res = await http(stack, 'PATCH', `/api/v1/sla-policies/${policy.id}`, {
      headers: tenant.admin.headers,
      body: { escalation_rules: rule([{ type: 'notify', user_ids: [other.agent.id] }]) },
    });
    expect(res.status).toBe(422);
    const now = await http(stack, 'GET', `/api/v1/sla-policies/${policy.id}`, { headers: tenant.admin.headers });
    expect(now.body.version).toBe(1);
    expect(now.body.escalation_rules[0].actions[0].user_ids).toEqual([tenant.agent.id]);
    const outbox = await stack.admin.query('SELECT count(*)::int AS n FROM sla_rollout_outbox WHERE workflow_id LIKE $1', [`%${policy.id}%`]);
    expect(outbox.rows[0].n).toBe(0);
  });
});
