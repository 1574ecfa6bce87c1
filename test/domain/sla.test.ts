/** The SLA engine on its own: pure functions, fixed instants. */
import { acknowledge, applyTicketChange, changePolicy, fireDue, nextSlaWakeUp, startSla } from '../../domain/sla';
import type { PolicySnapshot } from '../../domain/sla-policy';
import type { Message, Ticket } from '../../domain/ticket';

const T0 = Date.parse('2026-03-02T08:00:00.000Z'); // a Monday
const MIN = 60_000;
const iso = (ms: number) => new Date(ms).toISOString();

const policy = (over: Partial<PolicySnapshot> = {}): PolicySnapshot => ({
  id: 'p1',
  version: 1,
  name: 'Std',
  targets: { normal: { first_reply: 60, next_reply: 30, resolution: 240 }, urgent: { first_reply: 10 } },
  pause_statuses: ['pending', 'on_hold'],
  escalation_rules: [],
  calendar: { id: null, version: 0, time_zone: 'UTC', weekly: [0, 1, 2, 3, 4, 5, 6].map((day) => ({ day, start: '00:00', end: '24:00' })), holidays: [] },
  ...over,
});

const ticket = (over: Partial<Ticket> = {}): Ticket => ({
  id: 't',
  tenant_id: 'x',
  subject: 's',
  description: 'd',
  status: 'new',
  priority: 'normal',
  channel: 'api',
  customer_id: 'c',
  assignee_id: null,
  group_id: null,
  tags: [],
  version: 1,
  created_at: iso(T0),
  updated_at: iso(T0),
  first_agent_reply_at: null,
  solved_at: null,
  closed_at: null,
  sla: null,
  ...over,
});
const msg = (author_type: 'agent' | 'customer', at: number): Message => ({
  id: 'm',
  tenant_id: 'x',
  ticket_id: 't',
  visibility: 'public',
  author_type,
  author_id: null,
  body: 'b',
  external_id: null,
  created_at: iso(at),
  attachments: [],
});
const metric = (sla: { metrics: { metric: string }[] }, name: string) => sla.metrics.find((m) => m.metric === name) as any;

it('starts first reply and resolution at creation; next reply waits for a customer reply', () => {
  const { sla, decisions } = startSla(policy(), ticket(), T0);
  expect(metric(sla, 'first_reply')).toMatchObject({ status: 'running', due_at: iso(T0 + 60 * MIN) });
  expect(metric(sla, 'resolution')).toMatchObject({ status: 'running', due_at: iso(T0 + 240 * MIN) });
  expect(metric(sla, 'next_reply')).toMatchObject({ status: 'inactive', due_at: null });
  expect(decisions.map((d) => d.type)).toEqual(['sla.policy_applied']);
  expect(nextSlaWakeUp(sla, policy())?.at ?? null).toBe(T0 + 60 * MIN);
});

it('next reply: each customer reply after the first answer starts a cycle that an agent reply achieves', () => {
  const p = policy();
  let t = ticket();
  let sla = startSla(p, t, T0).sla;
  const step = (after: Ticket, m: Message, at: number) => {
    const r = applyTicketChange(sla, p, t, after, m, at);
    sla = r.sla;
    t = { ...after, sla };
    return r.decisions.map((d) => d.type);
  };
  // A customer follow-up before the first answer does not start next_reply: first_reply is still owed.
  expect(step({ ...t }, msg('customer', T0 + MIN), T0 + MIN)).toEqual([]);
  expect(step({ ...t, status: 'open', first_agent_reply_at: iso(T0 + 5 * MIN) }, msg('agent', T0 + 5 * MIN), T0 + 5 * MIN)).toEqual(['sla.achieved']);
  expect(step({ ...t }, msg('customer', T0 + 10 * MIN), T0 + 10 * MIN)).toEqual(['sla.policy_applied']);
  expect(metric(sla, 'next_reply')).toMatchObject({ status: 'running', cycle: 1, due_at: iso(T0 + 40 * MIN) });
  expect(step({ ...t }, msg('agent', T0 + 20 * MIN), T0 + 20 * MIN)).toEqual(['sla.achieved']);
  step({ ...t }, msg('customer', T0 + 30 * MIN), T0 + 30 * MIN);
  expect(metric(sla, 'next_reply')).toMatchObject({ status: 'running', cycle: 2, fired: [], due_at: iso(T0 + 60 * MIN) });
});

it('solving achieves resolution; reopening resumes it with the time already used', () => {
  const p = policy();
  const t = ticket({ status: 'open' });
  const sla = startSla(p, t, T0).sla;
  const solved = applyTicketChange(sla, p, t, { ...t, status: 'solved' }, undefined, T0 + 100 * MIN);
  expect(metric(solved.sla, 'resolution')).toMatchObject({ status: 'achieved', consumed_ms: 100 * MIN });
  const reopened = applyTicketChange(solved.sla, p, { ...t, status: 'solved' }, { ...t, status: 'open' }, undefined, T0 + 200 * MIN);
  expect(metric(reopened.sla, 'resolution')).toMatchObject({ status: 'running', due_at: iso(T0 + 200 * MIN + 140 * MIN) });
});

it('fires warning, breach and after-breach rules in time order, each once; an acknowledgement suppresses the rest', () => {
  const p = policy({
    escalation_rules: [
      { id: 'late', metrics: ['first_reply'], trigger: { type: 'after_breach', minutes: 30 }, actions: [{ type: 'emit' }] },
      {
        id: 'warn',
        metrics: ['first_reply'],
        trigger: { type: 'warning', percent: 75 },
        actions: [{ type: 'notify', assignee: true, group: false, user_ids: [] }],
      },
      { id: 'breach', metrics: ['first_reply'], trigger: { type: 'breach' }, actions: [{ type: 'set_priority', priority: 'high' }] },
    ],
  });
  let sla = startSla(p, ticket(), T0).sla;
  expect(nextSlaWakeUp(sla, p)).toEqual({ at: T0 + 45 * MIN, metric: 'first_reply', trigger: 'warning', rule_id: 'warn' });
  let fired = fireDue(sla, p, T0 + 45 * MIN);
  expect(fired.escalations.map((e) => e.rule_id)).toEqual(['warn']);
  sla = fired.sla;
  // Breach and the breach rule are due together; the plain breach record names no rule.
  expect(nextSlaWakeUp(sla, p)).toMatchObject({ at: T0 + 60 * MIN, metric: 'first_reply', trigger: 'breach' });
  expect(fireDue(sla, p, T0 + 45 * MIN).escalations).toEqual([]); // at most once per cycle
  sla = acknowledge(sla, T0 + 50 * MIN).sla;
  fired = fireDue(sla, p, T0 + 95 * MIN); // breach and after-breach both due, late
  expect(fired.decisions.map((d) => [d.type, d.data.rule_id ?? d.data.metric])).toEqual([
    ['sla.breached', 'first_reply'],
    ['sla.escalated', 'breach'],
    ['sla.escalated', 'late'],
  ]);
  expect(fired.escalations).toEqual([]);
  expect(fired.decisions[0]!.data).toMatchObject({ due_at: iso(T0 + 60 * MIN), lateness_ms: 35 * MIN });
});

it('a new policy version keeps the clock and moves the deadline; pausing stops the clock', () => {
  const p1 = policy();
  const t = ticket({ status: 'open' });
  const started = startSla(p1, t, T0).sla;
  const p2 = policy({ version: 2, targets: { normal: { first_reply: 90 } } });
  const moved = changePolicy(started, p1, p2, t, T0 + 20 * MIN, 'policy_updated');
  expect(moved.decisions[0]!.type).toBe('sla.retargeted');
  expect(metric(moved.sla, 'first_reply')).toMatchObject({ consumed_ms: 20 * MIN, due_at: iso(T0 + 90 * MIN) });
  const paused = applyTicketChange(moved.sla, p2, t, { ...t, status: 'pending' }, undefined, T0 + 30 * MIN);
  expect(paused.decisions.map((d) => d.type)).toEqual(['sla.paused']);
  expect(nextSlaWakeUp(paused.sla, p2)?.at ?? null).toBeNull();
});

it('solving stops the reply clocks too; reopening starts them again', () => {
  const p = policy();
  const t = ticket({ status: 'open' });
  const sla = startSla(p, t, T0).sla;
  const solved = applyTicketChange(sla, p, t, { ...t, status: 'solved' }, undefined, T0 + 10 * MIN);
  expect(metric(solved.sla, 'first_reply')).toMatchObject({ status: 'paused', due_at: null });
  expect(nextSlaWakeUp(solved.sla, p)?.at ?? null).toBeNull();
  const reopened = applyTicketChange(solved.sla, p, { ...t, status: 'solved' }, { ...t, status: 'open' }, undefined, T0 + 70 * MIN);
  expect(metric(reopened.sla, 'first_reply')).toMatchObject({ status: 'running', due_at: iso(T0 + 70 * MIN + 50 * MIN) });
});

describe('a breached cycle keeps its deadline', () => {
  const late = { id: 'late', metrics: ['first_reply' as const], trigger: { type: 'after_breach' as const, minutes: 30 }, actions: [{ type: 'emit' as const }] };
  const p = policy({
    targets: { normal: { first_reply: 60, resolution: 240 }, high: { first_reply: 120 } }, // low: no targets at all
    escalation_rules: [late],
  });
  const breachedAt = (): ReturnType<typeof startSla>['sla'] => {
    const started = startSla(p, ticket({ status: 'open' }), T0).sla;
    const fired = fireDue(started, p, T0 + 61 * MIN);
    expect(fired.decisions.map((d) => d.type)).toEqual(['sla.breached']);
    return fired.sla;
  };

  it('a priority without a target for the metric keeps the running target and the breach as recorded', () => {
    const sla = breachedAt();
    const low = changePolicy(sla, p, p, ticket({ status: 'open', priority: 'low' }), T0 + 62 * MIN, 'priority_changed').sla;
    expect(metric(low, 'first_reply')).toMatchObject({ status: 'running', target_ms: 60 * MIN, breached_at: iso(T0 + 60 * MIN), due_at: iso(T0 + 60 * MIN) });
    // The running, unbreached resolution clock keeps its target too (and its deadline, in the same calendar).
    expect(metric(low, 'resolution')).toMatchObject({ status: 'running', target_ms: 240 * MIN, due_at: iso(T0 + 240 * MIN) });
    // After-breach rules still count from the breach, not from the re-target.
    expect(nextSlaWakeUp(low, p)?.at ?? null).toBe(T0 + 90 * MIN);
    expect(fireDue(low, p, T0 + 90 * MIN).escalations.map((e) => [e.rule_id, e.due_at])).toEqual([['late', iso(T0 + 90 * MIN)]]);
  });

  it('a longer target after the breach does not un-breach the cycle or move its deadline', () => {
    const sla = breachedAt();
    const high = changePolicy(sla, p, p, ticket({ status: 'open', priority: 'high' }), T0 + 62 * MIN, 'priority_changed').sla;
    expect(metric(high, 'first_reply')).toMatchObject({ target_ms: 120 * MIN, breached_at: iso(T0 + 60 * MIN), due_at: iso(T0 + 60 * MIN) });
    expect(fireDue(high, p, T0 + 200 * MIN).decisions.filter((d) => d.type === 'sla.breached')).toEqual([]);
  });

  it('pausing and resuming a breached cycle keeps its deadline', () => {
    const sla = breachedAt();
    const t = ticket({ status: 'open' });
    const paused = applyTicketChange(sla, p, t, { ...t, status: 'pending' }, undefined, T0 + 70 * MIN).sla;
    const resumed = applyTicketChange(paused, p, { ...t, status: 'pending' }, t, undefined, T0 + 100 * MIN).sla;
    expect(metric(resumed, 'first_reply')).toMatchObject({ status: 'running', due_at: iso(T0 + 60 * MIN), breached_at: iso(T0 + 60 * MIN) });
  });
});
