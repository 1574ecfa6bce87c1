/**
 * Determinism: histories of ticket, rollout and webhook workflows replay with the current workflow code.
 *
 * `histories/*.json` were recorded by earlier workflow code (the runs a deployed worker may still
 * hold): a change to the workflows that alters the commands they produce fails here unless it is
 * guarded by `patched(...)`. The same paths are also run live (API in process, the run's worker
 * process) and replayed, so the current code replays its own histories too.
 *
 * To add fixtures for new paths, run this suite with RECORD_HISTORIES=1: the live histories are
 * written to `histories/` (existing files are kept; delete one to re-record it).
 */
import { ticketWorkflowId } from '../../domain/ids';
import { createPolicy, eventually, ofType, openTicket, timeline } from '../sla/support';
import { createTenant, http, startStack, type Tenant, type TestStack } from '../support/stack';
import { fixtures, type Recorded, record, replayAll, saveRecorded } from './replay-support';

/** The labels of the run's timers, as the Temporal UI shows them (the summary in each timer's user metadata). */
function timerSummaries({ history }: Recorded): (string | null)[] {
  type Event = { timerStartedEventAttributes?: unknown; userMetadata?: { summary?: { data?: string } } };
  return (history as { events: Event[] }).events
    .filter((e) => e.timerStartedEventAttributes)
    .map((e) => (e.userMetadata?.summary?.data ? (JSON.parse(Buffer.from(e.userMetadata.summary.data, 'base64').toString()) as string) : null));
}
const ISO = '\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z';

describe('histories recorded by earlier code', () => {
  const stored = fixtures();

  it('are there, for every path the ticket takes', () => {
    expect(stored.map((r) => r.name)).toEqual(
      expect.arrayContaining([
        'ticket-lifecycle',
        'ticket-sla-escalation',
        'ticket-continued-as-new-first-run',
        'ticket-continued-as-new-next-run',
        'ticket-policy-rollout',
        'sla-rollout',
        'ticket-deadline-refused',
        // test/workflows/webhook-replay.test.ts
        'webhook-delivery-retried',
        'webhook-delivery-dead',
        'webhook-redrive',
        'webhook-retention',
        // test/platform/data-retention.test.ts
        'data-retention-unlinked-uploads',
      ]),
    );
  });

  // Replaying bundles the workflow code and runs every history: minutes under a loaded machine (CI shares two cores).
  it('replay with the current workflow code', async () => {
    expect(await replayAll(stored)).toEqual([]);
  }, 240_000);
});

describe('histories recorded now', () => {
  let stack: TestStack;
  let small: TestStack;
  let tenant: Tenant;
  let slaTenant: Tenant;
  const recorded: Recorded[] = [];

  beforeAll(async () => {
    stack = await startStack();
    small = await startStack({ TICKET_HISTORY_EVENT_LIMIT: '30' });
    tenant = await createTenant(stack, 'Replay');
    slaTenant = await createTenant(stack, 'ReplaySla');
    await createPolicy(stack, slaTenant, {
      name: 'Fast',
      targets: { normal: { first_reply: 4 / 60 } },
      escalation_rules: [
        {
          id: 'warn',
          trigger: { type: 'warning', percent: 50 },
          actions: [
            { type: 'notify', assignee: true },
            { type: 'add_tag', tag: 'sla-warned' },
          ],
        },
        { id: 'breach', trigger: { type: 'breach' }, actions: [{ type: 'set_priority', priority: 'high' }, { type: 'emit' }] },
      ],
    });
  }, 60_000);
  afterAll(async () => {
    await stack?.admin.query('DROP TRIGGER IF EXISTS refuse_for_replay ON ticket_events').catch(() => undefined);
    saveRecorded(recorded);
    await small?.close();
    await stack?.close();
  });

  const patch = (s: TestStack, t: Tenant, id: string, body: Record<string, unknown>) => http(s, 'PATCH', `/api/v1/tickets/${id}`, { headers: t.headers, body });
  const message = (s: TestStack, t: Tenant, id: string, body: Record<string, unknown>) =>
    http(s, 'POST', `/api/v1/tickets/${id}/messages`, { headers: t.headers, body });
  const completed = async (s: TestStack, id: string) =>
    (
      await eventually(
        () => s.temporal.workflow.getHandle(ticketWorkflowId(id)).describe(),
        (d) => d.status.name === 'COMPLETED',
      )
    ).status.name;

  it('create, patch, messages, solve, auto-close', async () => {
    const ticket = await openTicket(stack, tenant);
    expect((await patch(stack, tenant, ticket.id, { priority: 'high', tags: ['billing'] })).status).toBe(200);
    expect((await message(stack, tenant, ticket.id, { body: 'Looking into it', visibility: 'public' })).status).toBe(201);
    expect((await message(stack, tenant, ticket.id, { body: 'note to self', visibility: 'internal' })).status).toBe(201);
    expect((await patch(stack, tenant, ticket.id, { status: 'solved' })).status).toBe(200);
    expect(await completed(stack, ticket.id)).toBe('COMPLETED'); // auto-close after 2 s in tests
    const r = await record(stack.temporal, 'ticket-lifecycle', ticketWorkflowId(ticket.id));
    expect(timerSummaries(r)).toEqual([expect.stringMatching(new RegExp(`^auto-close at ${ISO}$`))]);
    recorded.push(r);
  });

  it('SLA warning and breach timers fire, escalations patch and re-match, acknowledge, close', async () => {
    const ticket = await openTicket(stack, slaTenant, { assignee_id: slaTenant.agent.id });
    await eventually(
      () => timeline(stack, slaTenant, ticket.id),
      (e) => ofType(e, 'sla.escalated').length >= 2,
    );
    const ack = await http(stack, 'POST', `/api/v1/tickets/${ticket.id}/sla/ack`, { headers: slaTenant.headers });
    expect(ack.status).toBe(200);
    expect((await message(stack, slaTenant, ticket.id, { body: 'Sorry for the wait', visibility: 'public' })).status).toBe(201);
    expect((await patch(stack, slaTenant, ticket.id, { status: 'solved' })).status).toBe(200);
    expect(await completed(stack, ticket.id)).toBe('COMPLETED');
    const r = await record(stack.temporal, 'ticket-sla-escalation', ticketWorkflowId(ticket.id));
    expect(JSON.stringify(r.history)).toContain('EVENT_TYPE_TIMER_FIRED');
    // Each timer says which metric and trigger it waits for.
    expect(timerSummaries(r)).toEqual([
      expect.stringMatching(new RegExp(`^sla first_reply warning \\(rule warn\\) at ${ISO}$`)),
      expect.stringMatching(new RegExp(`^sla first_reply breach at ${ISO}$`)),
      expect.stringMatching(new RegExp(`^auto-close at ${ISO}$`)),
    ]);
    recorded.push(r);
  });

  it('continue-as-new carries the ticket into the next run', async () => {
    const ticket = await openTicket(small, tenant);
    const handle = small.temporal.workflow.getHandle(ticketWorkflowId(ticket.id));
    const firstRunId = (await handle.describe()).runId;
    const priorities = ['high', 'low'];
    for (let i = 0; i < 12; i++) expect((await patch(small, tenant, ticket.id, { priority: priorities[i % 2] })).status).toBe(200);
    expect((await message(small, tenant, ticket.id, { body: 'still here?', visibility: 'public' })).status).toBe(201);
    const nextRunId = (await handle.describe()).runId;
    expect(nextRunId).not.toBe(firstRunId);
    const first = await record(small.temporal, 'ticket-continued-as-new-first-run', ticketWorkflowId(ticket.id), firstRunId);
    expect(JSON.stringify(first.history)).toContain('EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW');
    const next = await record(small.temporal, 'ticket-continued-as-new-next-run', ticketWorkflowId(ticket.id), nextRunId);
    recorded.push(first, next);
  });

  it('a policy change rolls out to the open ticket, which re-matches on the signal', async () => {
    const rolloutTenant = await createTenant(stack, 'ReplayRollout');
    const policy = await createPolicy(stack, rolloutTenant, { name: 'Slow', targets: { normal: { first_reply: 60, resolution: 600 } } });
    const ticket = await openTicket(stack, rolloutTenant);
    const changed = await http(stack, 'PATCH', `/api/v1/sla-policies/${policy.id}`, {
      headers: { ...rolloutTenant.admin.headers, 'If-Match': `"${policy.version}"` },
      body: { targets: { normal: { first_reply: 30, resolution: 600 } } },
    });
    expect(changed.status).toBe(200);
    const events = await eventually(
      () => timeline(stack, rolloutTenant, ticket.id),
      (e) => ofType(e, 'sla.retargeted').length > 0,
    );
    expect(ofType(events, 'sla.retargeted').length).toBeGreaterThan(0);
    const r = await record(stack.temporal, 'ticket-policy-rollout', ticketWorkflowId(ticket.id));
    expect(JSON.stringify(r.history)).toContain('EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED');
    recorded.push(r);

    const { rows } = await stack.admin.query<{ workflow_id: string }>('SELECT workflow_id FROM sla_rollout_outbox WHERE tenant_id = $1', [rolloutTenant.id]);
    expect(rows).toHaveLength(1);
    const rollout = stack.temporal.workflow.getHandle(rows[0]!.workflow_id);
    expect(await rollout.result()).toBeGreaterThanOrEqual(1); // the settle pass waits 15 s
    const rr = await record(stack.temporal, 'sla-rollout', rows[0]!.workflow_id);
    expect(timerSummaries(rr)).toEqual(['settle pass: tickets still on an older policy or calendar version']);
    recorded.push(rr);
  }, 60_000);

  it('a deadline whose write is refused backs off, then succeeds on the next change', async () => {
    const ticket = await openTicket(stack, slaTenant);
    await stack.admin.query(`
      CREATE OR REPLACE FUNCTION refuse_for_replay() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.ticket_id = '${ticket.id}'::uuid AND NEW.type = 'sla.warning' THEN RAISE EXCEPTION 'injected projection fault'; END IF;
        RETURN NEW;
      END $$`);
    await stack.admin.query('CREATE TRIGGER refuse_for_replay BEFORE INSERT ON ticket_events FOR EACH ROW EXECUTE FUNCTION refuse_for_replay()');
    try {
      await new Promise((r) => setTimeout(r, 3_500)); // past the 2 s warning: attempted, refused, backing off
      expect(ofType(await timeline(stack, slaTenant, ticket.id), 'sla.warning')).toHaveLength(0);
    } finally {
      await stack.admin.query('DROP TRIGGER IF EXISTS refuse_for_replay ON ticket_events');
    }
    expect((await patch(stack, slaTenant, ticket.id, { tags: ['retry'] })).status).toBe(200);
    await eventually(
      () => timeline(stack, slaTenant, ticket.id),
      (e) => ofType(e, 'sla.breached').length > 0,
    );
    const r = await record(stack.temporal, 'ticket-deadline-refused', ticketWorkflowId(ticket.id));
    expect(timerSummaries(r).slice(0, 2)).toEqual([
      expect.stringMatching(/^sla first_reply warning \(rule warn\) at /),
      expect.stringMatching(/^retry \(refused 1x\): sla first_reply warning \(rule warn\) at /),
    ]);
    recorded.push(r);
  }, 60_000);

  it('replay with the current workflow code', async () => {
    expect(recorded.map((r) => r.name)).toHaveLength(7);
    expect(await replayAll(recorded)).toEqual([]);
  }, 240_000);
});
