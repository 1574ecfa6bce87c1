/**
 * The SLA engine: pure functions from (SLA state, policy snapshot, ticket change, now) to the next
 * SLA state and the decisions the timeline records. The ticket workflow is its only caller; the
 * deadlines come from business-hours math, so they are explainable and replay identically.
 */
import { addBusinessTime, businessTimeBetween, type Calendar, holidaysBetween } from './business-hours';
import type { TicketEventType } from './events';
import type { EscalationAction, EscalationRule, EscalationTrigger, PolicySnapshot } from './sla-policy';
import { type MetricState, SLA_METRICS, type SlaMetric, type SlaState } from './sla-state';
import type { Message, PatchTicketInput, Ticket } from './ticket';

export interface SlaDecision {
  type: Extract<TicketEventType, `sla.${string}`>;
  data: Record<string, unknown>;
}

/** Why a ticket's policy is looked up again (recorded with the deadlines it moves). */
export type RematchReason = 'rematched' | 'priority_changed' | 'policy_updated' | 'calendar_updated';

export interface Escalation {
  rule_id: string;
  metric: SlaMetric;
  trigger: EscalationTrigger;
  actions: EscalationAction[];
  due_at: string;
  lateness_ms: number;
}

const iso = (ms: number) => new Date(ms).toISOString();
const ms = (value: string) => Date.parse(value);
/** The calendar the clocks count in: the policy snapshot's (the state records which one and which version). */
const calendarOf = (policy: PolicySnapshot): Calendar => ({
  time_zone: policy.calendar.time_zone,
  weekly: policy.calendar.weekly,
  holidays: policy.calendar.holidays,
});
const targetOf = (policy: PolicySnapshot, priority: string, metric: SlaMetric): number | undefined => {
  const minutes = policy.targets[priority as keyof PolicySnapshot['targets']]?.[metric];
  return minutes === undefined ? undefined : minutes * 60_000;
};
const isPausing = (sla: SlaState, status: string) => sla.pause_statuses.includes(status);

// ---- one metric ----------------------------------------------------------------------------

/** Business time consumed so far, including the running segment. */
function consumedAt(m: MetricState, cal: Calendar, now: number): number {
  return m.consumed_ms + (m.status === 'running' && m.segment_started_at ? businessTimeBetween(cal, ms(m.segment_started_at), now) : 0);
}

/** The instant the metric will have consumed `amount` of business time (only meaningful while running). */
function reachesAt(m: MetricState, cal: Calendar, amount: number): number {
  const start = ms(m.segment_started_at!);
  if (amount <= m.consumed_ms) return start;
  return addBusinessTime(cal, start, amount - m.consumed_ms);
}

function withDue(m: MetricState, cal: Calendar): MetricState {
  if (m.status !== 'running') return { ...m, due_at: m.status === 'paused' ? null : m.due_at };
  // A breached cycle keeps the deadline it breached at (a recorded fact): a new target, calendar or
  // priority, or a resume, never moves it past its own breach.
  if (m.breached_at !== null) return { ...m, due_at: m.breached_at };
  const due = reachesAt(m, cal, m.target_ms);
  return { ...m, due_at: iso(due), holidays_skipped: holidaysBetween(cal, ms(m.started_at!), due) };
}

function newMetric(metric: SlaMetric, target: number, now: number, status: MetricState['status']): MetricState {
  return {
    metric,
    status,
    cycle: status === 'inactive' ? 0 : 1,
    target_ms: target,
    started_at: status === 'inactive' ? null : iso(now),
    consumed_ms: 0,
    segment_started_at: status === 'running' ? iso(now) : null,
    due_at: null,
    paused_ms: 0,
    paused_since: status === 'paused' ? iso(now) : null,
    warned_at: null,
    breached_at: null,
    achieved_at: null,
    fired: [],
    acknowledged_at: null,
    holidays_skipped: [],
  };
}

function pause(m: MetricState, cal: Calendar, now: number): MetricState {
  if (m.status !== 'running') return m;
  return { ...m, status: 'paused', consumed_ms: consumedAt(m, cal, now), segment_started_at: null, paused_since: iso(now), due_at: null };
}

function resume(m: MetricState, cal: Calendar, now: number): MetricState {
  if (m.status !== 'paused') return m;
  const pausedFor = m.paused_since ? now - ms(m.paused_since) : 0;
  return withDue({ ...m, status: 'running', segment_started_at: iso(now), paused_since: null, paused_ms: m.paused_ms + pausedFor }, cal);
}

function achieve(m: MetricState, cal: Calendar, now: number): MetricState {
  if (m.status !== 'running' && m.status !== 'paused') return m;
  const consumed = consumedAt(m, cal, now);
  const pausedFor = m.status === 'paused' && m.paused_since ? now - ms(m.paused_since) : 0;
  return {
    ...m,
    status: 'achieved',
    consumed_ms: consumed,
    segment_started_at: null,
    paused_since: null,
    paused_ms: m.paused_ms + pausedFor,
    achieved_at: iso(now),
  };
}

function startCycle(m: MetricState, cal: Calendar, now: number, paused: boolean): MetricState {
  const fresh = newMetric(m.metric, m.target_ms, now, paused ? 'paused' : 'running');
  return withDue({ ...fresh, cycle: m.cycle + 1 }, cal);
}

// ---- the policy ------------------------------------------------------------------------------

/** Applies a policy to a new ticket: first reply and resolution start counting at creation. */
export function startSla(policy: PolicySnapshot, ticket: Ticket, now: number): { sla: SlaState; decisions: SlaDecision[] } {
  const shell = stateShell(policy);
  const cal = calendarOf(policy);
  const created = ms(ticket.created_at);
  const paused = isPausing(shell, ticket.status);
  const metrics: MetricState[] = [];
  for (const metric of SLA_METRICS) {
    const target = targetOf(policy, ticket.priority, metric);
    if (target === undefined) continue;
    if (metric === 'next_reply') {
      metrics.push(newMetric(metric, target, created, 'inactive'));
      continue;
    }
    let m = newMetric(metric, target, created, 'running');
    if (paused) m = pause(m, cal, now);
    metrics.push(withDue(m, cal));
  }
  const sla = { ...shell, metrics };
  return { sla, decisions: [{ type: 'sla.policy_applied', data: { ...describePolicy(policy), reason: 'created', due: dueMap(sla) } }] };
}

/**
 * A different policy (re-match) or a new version of the same one: keep the clocks, move the deadlines.
 *
 * A priority (or policy) with no target for a metric the ticket already counts leaves that metric on
 * the target it had: a running clock keeps counting to it, a breached cycle stays breached with its
 * deadline. A metric the ticket does not count yet is not started by a re-target. A breached cycle
 * takes the new target for its later cycles only; its own deadline and breach stay as recorded.
 */
export function changePolicy(
  sla: SlaState,
  previous: PolicySnapshot,
  policy: PolicySnapshot,
  ticket: Ticket,
  now: number,
  reason: RematchReason,
): { sla: SlaState; decisions: SlaDecision[] } {
  const oldCal = calendarOf(previous);
  const cal = calendarOf(policy);
  const metrics = sla.metrics.map((m) => {
    const target = targetOf(policy, ticket.priority, m.metric) ?? m.target_ms;
    // Time already run is counted in the calendar it ran under; the rest in the new one.
    const rolled = m.status === 'running' ? { ...m, consumed_ms: consumedAt(m, oldCal, now), segment_started_at: iso(now) } : m;
    return withDue({ ...rolled, target_ms: target }, cal);
  });
  const next: SlaState = { ...stateShell(policy), metrics };
  const type = sla.policy_id === policy.id ? 'sla.retargeted' : 'sla.policy_applied';
  return { sla: next, decisions: [{ type, data: { ...describePolicy(policy), reason, due: dueMap(next) } }] };
}

/** The SLA effects of a ticket change: achievements, new cycles, pauses and resumes. */
export function applyTicketChange(
  sla: SlaState,
  policy: PolicySnapshot,
  before: Ticket,
  after: Ticket,
  message: Message | undefined,
  now: number,
): { sla: SlaState; decisions: SlaDecision[] } {
  const cal = calendarOf(policy);
  const decisions: SlaDecision[] = [];
  const agentReply = message?.visibility === 'public' && message.author_type === 'agent';
  const customerReply = message?.visibility === 'public' && message.author_type === 'customer';
  // A solved (or closed) ticket owes no replies: its reply clocks stop like a paused one's.
  const wasPaused = isPausing(sla, before.status) || isDone(before.status);
  const isPaused = isPausing(sla, after.status) || isDone(after.status);
  const firstReplyPending = sla.metrics.some((m) => m.metric === 'first_reply' && (m.status === 'running' || m.status === 'paused'));

  const metrics = sla.metrics.map((m) => {
    let next = m;
    const achievedNow =
      (m.metric === 'first_reply' && before.first_agent_reply_at === null && after.first_agent_reply_at !== null) ||
      (m.metric === 'next_reply' && agentReply) ||
      (m.metric === 'resolution' && isDone(after.status) && !isDone(before.status));
    if (achievedNow && (m.status === 'running' || m.status === 'paused')) {
      next = achieve(m, cal, now);
      decisions.push({
        type: 'sla.achieved',
        data: { metric: m.metric, cycle: m.cycle, due_at: m.due_at, breached: m.breached_at !== null, business_ms: next.consumed_ms },
      });
      return next;
    }
    if (m.metric === 'next_reply' && customerReply && !firstReplyPending && (m.status === 'inactive' || m.status === 'achieved')) {
      next = startCycle(m, cal, now, isPaused);
      decisions.push({ type: 'sla.policy_applied', data: { metric: m.metric, cycle: next.cycle, reason: 'customer_replied', due_at: next.due_at } });
      return next;
    }
    if (m.metric === 'resolution' && m.status === 'achieved' && isDone(before.status) && !isDone(after.status)) {
      // Reopened: the resolution clock carries on from where it stopped.
      next = withDue({ ...m, status: 'running', achieved_at: null, segment_started_at: iso(now) }, cal);
      decisions.push({ type: 'sla.resumed', data: { metric: m.metric, reason: 'reopened', due_at: next.due_at } });
    }
    return next;
  });

  let state: SlaState = { ...sla, metrics };
  if (!wasPaused && isPaused && state.metrics.some((m) => m.status === 'running')) {
    state = { ...state, metrics: state.metrics.map((m) => pause(m, cal, now)) };
    decisions.push({ type: 'sla.paused', data: { status: after.status } });
  } else if (wasPaused && !isPaused && state.metrics.some((m) => m.status === 'paused')) {
    state = { ...state, metrics: state.metrics.map((m) => resume(m, cal, now)) };
    decisions.push({ type: 'sla.resumed', data: { status: after.status, due: dueMap(state) } });
  }
  return { sla: state, decisions };
}

/** Stops the escalation ladder for the current cycle of every active metric. */
export function acknowledge(sla: SlaState, now: number): { sla: SlaState; decisions: SlaDecision[] } {
  const metrics = sla.metrics.map((m) => (m.status === 'running' || m.status === 'paused' ? { ...m, acknowledged_at: iso(now) } : m));
  return {
    sla: { ...sla, metrics },
    decisions: [{ type: 'sla.acknowledged', data: { metrics: metrics.filter((m) => m.acknowledged_at).map((m) => m.metric) } }],
  };
}

// ---- timers ------------------------------------------------------------------------------

interface PendingTrigger {
  metric: SlaMetric;
  at: number;
  rule?: EscalationRule; // undefined: the plain breach record
}

function pendingTriggers(sla: SlaState, policy: PolicySnapshot): PendingTrigger[] {
  const cal = calendarOf(policy);
  const out: PendingTrigger[] = [];
  for (const m of sla.metrics) {
    if (m.status !== 'running') continue;
    // After the breach, after-breach rules count from the breach itself, not from a re-derived deadline.
    const breached = m.breached_at !== null;
    const breachAt = breached ? ms(m.breached_at!) : reachesAt(m, cal, m.target_ms);
    if (!breached) out.push({ metric: m.metric, at: breachAt });
    for (const rule of policy.escalation_rules) {
      if (!rule.metrics.includes(m.metric) || m.fired.includes(rule.id)) continue;
      const t = rule.trigger;
      if (breached && t.type === 'warning') continue; // a warning after the breach warns of nothing
      const at = t.type === 'warning' ? reachesAt(m, cal, (m.target_ms * t.percent) / 100) : t.type === 'breach' ? breachAt : breachAt + t.minutes * 60_000;
      out.push({ metric: m.metric, at, rule });
    }
  }
  return out;
}

/** The next SLA moment the workflow waits for: when (epoch ms), and which metric and trigger it is. */
export interface SlaWakeUp {
  at: number;
  metric: SlaMetric;
  /** `breach` with no rule: the plain breach record. */
  trigger: EscalationTrigger['type'];
  rule_id: string | null;
}

/** When the workflow must wake up next for the SLA, and why; null when no clock is running. */
export function nextSlaWakeUp(sla: SlaState | null, policy: PolicySnapshot | null): SlaWakeUp | null {
  if (!sla || !policy) return null;
  let next: PendingTrigger | null = null;
  for (const p of pendingTriggers(sla, policy)) if (next === null || p.at < next.at) next = p;
  if (next === null) return null;
  return { at: next.at, metric: next.metric, trigger: next.rule?.trigger.type ?? 'breach', rule_id: next.rule?.id ?? null };
}

/** Everything due at `now`: breaches recorded, warnings, and the escalation rules to carry out. */
export function fireDue(sla: SlaState, policy: PolicySnapshot, now: number): { sla: SlaState; decisions: SlaDecision[]; escalations: Escalation[] } {
  const due = pendingTriggers(sla, policy)
    .filter((p) => p.at <= now)
    .sort((a, b) => a.at - b.at || (a.rule ? 1 : 0) - (b.rule ? 1 : 0));
  const decisions: SlaDecision[] = [];
  const escalations: Escalation[] = [];
  const metrics = new Map(sla.metrics.map((m) => [m.metric, m]));
  for (const p of due) {
    const m = metrics.get(p.metric)!;
    const lateness_ms = now - p.at;
    if (!p.rule) {
      metrics.set(p.metric, { ...m, breached_at: iso(p.at) });
      decisions.push({ type: 'sla.breached', data: { metric: p.metric, cycle: m.cycle, due_at: iso(p.at), lateness_ms } });
      continue;
    }
    const rule = p.rule;
    const updated = { ...m, fired: [...m.fired, rule.id], warned_at: rule.trigger.type === 'warning' ? (m.warned_at ?? iso(p.at)) : m.warned_at };
    metrics.set(p.metric, updated);
    if (rule.trigger.type === 'warning' && m.warned_at === null) {
      decisions.push({ type: 'sla.warning', data: { metric: p.metric, cycle: m.cycle, percent: rule.trigger.percent, at: iso(p.at), lateness_ms } });
    }
    if (m.acknowledged_at !== null) {
      decisions.push({ type: 'sla.escalated', data: { metric: p.metric, rule_id: rule.id, suppressed: 'acknowledged', lateness_ms } });
      continue;
    }
    escalations.push({ rule_id: rule.id, metric: p.metric, trigger: rule.trigger, actions: rule.actions, due_at: iso(p.at), lateness_ms });
  }
  return { sla: { ...sla, metrics: sla.metrics.map((m) => metrics.get(m.metric)!) }, decisions, escalations };
}

/** The ticket changes and notifications an escalation asks for. */
export function escalationEffects(e: Escalation, ticket: Ticket) {
  const patch: PatchTicketInput = {};
  const notify = { assignee_id: null as string | null, group_id: null as string | null, user_ids: [] as string[] };
  let notifies = false;
  let emit = false;
  for (const a of e.actions) {
    if (a.type === 'reassign') {
      if (a.assignee_id !== undefined) patch.assignee_id = a.assignee_id;
      if (a.group_id !== undefined) patch.group_id = a.group_id;
    } else if (a.type === 'set_priority') patch.priority = a.priority;
    else if (a.type === 'add_tag') patch.tags = [...new Set([...(patch.tags ?? ticket.tags), a.tag])].sort();
    else if (a.type === 'emit') emit = true;
    else if (a.type === 'notify') {
      notifies = true;
      if (a.assignee) notify.assignee_id = ticket.assignee_id;
      if (a.group) notify.group_id = ticket.group_id;
      notify.user_ids.push(...a.user_ids);
    }
  }
  return { patch: Object.keys(patch).length ? patch : null, notify: notifies ? notify : null, emit };
}

// ---- helpers -------------------------------------------------------------------------------

const isDone = (status: string) => status === 'solved' || status === 'closed';

function stateShell(policy: PolicySnapshot): SlaState {
  return {
    policy_id: policy.id,
    policy_version: policy.version,
    policy_name: policy.name,
    calendar_id: policy.calendar.id,
    calendar_version: policy.calendar.version,
    time_zone: policy.calendar.time_zone,
    pause_statuses: policy.pause_statuses,
    metrics: [],
  };
}

function describePolicy(policy: PolicySnapshot) {
  return {
    policy_id: policy.id,
    policy_version: policy.version,
    policy_name: policy.name,
    calendar_id: policy.calendar.id,
    time_zone: policy.calendar.time_zone,
  };
}

function dueMap(sla: SlaState): Record<string, string | null> {
  return Object.fromEntries(sla.metrics.filter((m) => m.status === 'running' || m.status === 'paused').map((m) => [m.metric, m.due_at]));
}

export function nextDueAt(sla: SlaState | null): string | null {
  const dues = (sla?.metrics ?? []).filter((m) => m.status === 'running' && m.due_at).map((m) => m.due_at!);
  return dues.length ? dues.sort()[0]! : null;
}
