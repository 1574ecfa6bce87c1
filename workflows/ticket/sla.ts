/**
 * The ticket's SLA over time: decisions recorded as timeline events, the deadlines that fire, the
 * escalations they run, and when (and for what) the workflow arms its next timer. Pure functions
 * of the state and the workflow clock (`now`, epoch ms), so they replay identically.
 */
import { metricMeter } from '@temporalio/workflow';
import { applyTicketChange, type Escalation, escalationEffects, fireDue, nextSlaWakeUp, type SlaDecision } from '../../domain/sla';
import type { PolicySnapshot } from '../../domain/sla-policy';
import type { Ticket } from '../../domain/ticket';
import { autoCloseDueAt, patchTicket, recordEvents, SYSTEM_ACTOR, type TicketChange } from '../../domain/ticket-state-machine';

const iso = (ms: number) => new Date(ms).toISOString();

/** SLA decisions become timeline events, each its own version. */
export function withSlaDecisions(change: TicketChange, decisions: SlaDecision[], sla: Ticket['sla'], now: number): TicketChange {
  if (decisions.length === 0) return sla === change.ticket.sla ? change : { ...change, ticket: { ...change.ticket, sla } };
  const recorded = recordEvents(
    { ...change.ticket, sla },
    decisions.map((d) => ({ type: d.type, actor: SYSTEM_ACTOR, data: d.data })),
    iso(now),
  );
  return { ...change, ticket: recorded.ticket, events: [...change.events, ...recorded.events] };
}

/** Warnings and breaches due now, as timeline events, with the escalation rules whose actions follow. */
export function dueSlaDecisions(
  ticket: Ticket,
  policy: PolicySnapshot | null,
  now: number,
): { change: TicketChange; escalations: Escalation[]; triggers: SlaTrigger[] } | null {
  if (!policy || !ticket.sla || ticket.status === 'closed') return null;
  const fired = fireDue(ticket.sla, policy, now);
  // One observation per detection (a breach or a warning), not per rule it triggers.
  const triggers = fired.decisions
    .filter((d) => (d.type === 'sla.breached' || d.type === 'sla.warning') && typeof d.data.lateness_ms === 'number')
    .map((d) => ({
      type: d.type === 'sla.breached' ? ('breach' as const) : ('warning' as const),
      lateness_ms: Math.max(0, Math.round(d.data.lateness_ms as number)),
    }));
  return { change: withSlaDecisions({ ticket, events: [] }, fired.decisions, fired.sla, now), escalations: fired.escalations, triggers };
}

/** A warning or breach detected when its timer fired, and how late that was. */
export interface SlaTrigger {
  type: 'warning' | 'breach';
  lateness_ms: number;
}

// The workflow's metric meter records nothing while replaying, so each trigger counts once.
const slaLateness = metricMeter.createHistogram('deskflow_sla_trigger_lateness', 'int', 'ms', 'SLA timer fired minus due time');
const slaTriggers = metricMeter.createCounter('deskflow_sla_triggers', '1', 'SLA warnings and breaches detected, by type');
export function recordSlaTriggers(triggers: SlaTrigger[]): void {
  for (const t of triggers) {
    slaLateness.record(t.lateness_ms, { type: t.type });
    slaTriggers.add(1, { type: t.type });
  }
}

/**
 * One escalation rule carried out as the system: the ticket changes its actions ask for ride on the
 * `sla.escalated` event (one version), which also records whom to notify. `rematch`: it moved the
 * priority away from what the ticket had when the deadline fired, so the policy is looked up again.
 */
export function escalate(
  change: TicketChange,
  escalation: Escalation,
  policy: PolicySnapshot | null,
  firedOn: Ticket,
  now: number,
): { change: TicketChange; rematch: boolean } {
  const effects = escalationEffects(escalation, change.ticket);
  let changes = {};
  if (effects.patch) {
    const before = change.ticket;
    const patched = patchTicket(before, effects.patch, SYSTEM_ACTOR, iso(now));
    const [event] = patched.events;
    if (event) {
      changes = event.changes;
      const r = policy && patched.ticket.sla ? applyTicketChange(patched.ticket.sla, policy, before, patched.ticket, undefined, now) : null;
      change = { ...change, ticket: { ...patched.ticket, version: before.version, updated_at: before.updated_at } };
      if (r) change = { ...change, ticket: { ...change.ticket, sla: r.sla } };
    }
  }
  const data = {
    metric: escalation.metric,
    rule_id: escalation.rule_id,
    trigger: escalation.trigger,
    due_at: escalation.due_at,
    lateness_ms: escalation.lateness_ms,
    changes,
    notify: effects.notify,
    emit: effects.emit,
  };
  change = withSlaDecisions(change, [{ type: 'sla.escalated', data }], change.ticket.sla, now);
  const priority = effects.patch?.priority;
  return { change, rematch: priority !== undefined && priority !== firedOn.priority };
}

/** The next moment the workflow wakes up by itself, and a label for its timer in the Temporal UI. */
export interface WakeUp {
  at: number;
  summary: string;
}

/** The earliest of the next SLA trigger and the auto-close of a solved ticket; null: wait for a change. */
export function nextWakeUp(ticket: Ticket, policy: PolicySnapshot | null, autoCloseAfterMs: number): WakeUp | null {
  const closeAt = autoCloseDueAt(ticket, autoCloseAfterMs);
  const sla = nextSlaWakeUp(ticket.sla, policy);
  if (sla !== null && (closeAt === null || sla.at <= closeAt)) {
    const rule = sla.rule_id === null ? '' : ` (rule ${sla.rule_id})`;
    return { at: sla.at, summary: `sla ${sla.metric} ${sla.trigger}${rule} at ${iso(sla.at)}` };
  }
  return closeAt === null ? null : { at: closeAt, summary: `auto-close at ${iso(closeAt)}` };
}

/** A deadline whose change was refused waits this long (doubling, capped) before it tries again. */
const RETRY_FIRST_MS = 60_000;
const RETRY_MAX_MS = 3_600_000;

export function retryAfterRefusal(failures: number, wakeUp: WakeUp): { ms: number; summary: string } {
  const ms = Math.min(RETRY_FIRST_MS * 2 ** (failures - 1), RETRY_MAX_MS);
  return { ms, summary: `retry (refused ${failures}x): ${wakeUp.summary}` };
}
