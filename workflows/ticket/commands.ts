/**
 * Ticket commands followed by their SLA effects: the domain state machine decides the change, then
 * the SLA clocks pause, resume or achieve, and a change to what the policy matches on asks for a
 * re-match. Pure functions of the state and the workflow clock (`now`, epoch ms).
 */
import { DeskflowError } from '../../domain/errors';
import { acknowledge, applyTicketChange, changePolicy, type RematchReason, startSla } from '../../domain/sla';
import type { MatchFacts, PolicySnapshot } from '../../domain/sla-policy';
import type { Actor, Ticket } from '../../domain/ticket';
import { autoClose, autoCloseDueAt, recordEvents, type TicketChange } from '../../domain/ticket-state-machine';
import { withSlaDecisions } from './sla';

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * A command's change with its SLA effects. `rematch`: the priority, channel or tags changed, so the
 * policy must be looked up again (why, for the timeline); null when nothing it matches on changed.
 */
export function withSlaEffects(
  before: Ticket,
  change: TicketChange,
  policy: PolicySnapshot | null,
  now: number,
): { change: TicketChange; rematch: RematchReason | null } {
  if (change.events.length === 0) return { change, rematch: null };
  if (policy && change.ticket.sla) {
    const r = applyTicketChange(change.ticket.sla, policy, before, change.ticket, change.message, now);
    change = withSlaDecisions(change, r.decisions, r.sla, now);
  }
  const t = change.ticket;
  const matchedOnChanged = before.priority !== t.priority || before.channel !== t.channel || before.tags.join() !== t.tags.join();
  if (!matchedOnChanged) return { change, rematch: null };
  return { change, rematch: before.priority !== t.priority ? 'priority_changed' : 'rematched' };
}

/** What a policy look-up matches the ticket on. */
export const matchFacts = (t: Ticket): MatchFacts => ({ priority: t.priority, channel: t.channel, tags: t.tags, customer_id: t.customer_id });

/**
 * The policy a look-up found becomes the ticket's: its clocks start, or move to the new targets and
 * calendar. No match keeps the current policy: deadlines already promised are not silently dropped.
 */
export function adoptPolicy(
  current: PolicySnapshot | null,
  change: TicketChange,
  found: PolicySnapshot | null,
  reason: RematchReason,
  now: number,
): { change: TicketChange; policy: PolicySnapshot | null } {
  const t = change.ticket;
  if (!found) return { change, policy: current };
  if (!current || !t.sla) {
    const started = startSla(found, t, now);
    return { change: withSlaDecisions(change, started.decisions, started.sla, now), policy: found };
  }
  const same = found.id === current.id && found.version === current.version && found.calendar.version === current.calendar.version;
  if (same && reason !== 'priority_changed') return { change, policy: current };
  const why = found.id !== current.id ? 'rematched' : found.calendar.version !== current.calendar.version ? 'calendar_updated' : reason;
  const moved = changePolicy(t.sla, current, found, t, now, why);
  return { change: withSlaDecisions(change, moved.decisions, moved.sla, now), policy: found };
}

/** An acknowledgement needs an open ticket under an SLA policy. */
export function assertCanAcknowledge(ticket: Ticket): void {
  if (ticket.status === 'closed') throw new DeskflowError('ticket_closed', 'the ticket is closed');
  assertHasSla(ticket);
}

function assertHasSla(ticket: Ticket): asserts ticket is Ticket & { sla: NonNullable<Ticket['sla']> } {
  if (!ticket.sla) throw new DeskflowError('rule_violation', 'no SLA policy applies to this ticket');
}

/** Stops the escalation ladder for the current cycle of every running clock, recorded as the actor's event. */
export function acknowledgeSla(ticket: Ticket, actor: Actor, now: number): TicketChange {
  assertHasSla(ticket);
  const acked = acknowledge(ticket.sla, now);
  return recordEvents(
    ticket,
    acked.decisions.map((d) => ({ type: d.type, actor, data: d.data, update: { sla: acked.sla } })),
    iso(now),
  );
}

/** A solved ticket whose auto-close delay has passed closes (as the system); otherwise nothing changes. */
export function closeIfDue(ticket: Ticket, autoCloseAfterMs: number, now: number): TicketChange {
  const dueAt = autoCloseDueAt(ticket, autoCloseAfterMs);
  if (dueAt === null || dueAt > now) return { ticket, events: [] };
  return autoClose(ticket, iso(now));
}
