/**
 * One workflow per ticket (`ticket-<id>`): the single writer of the ticket's lifecycle state.
 * It opens the ticket, applies agents' changes and messages through the domain state machine,
 * keeps the SLA clocks and escalates on time, closes a solved ticket after the auto-close delay,
 * and projects every version to PostgreSQL.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  TemporalFailure,
  WorkflowError,
  allHandlersFinished,
  condition,
  continueAsNew,
  log,
  metricMeter,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import { DeskflowError, isErrorCode } from '../domain/errors';
import type { TicketEvent } from '../domain/events';
import { TicketSearchAttributes as SA } from '../domain/search-attributes';
import {
  acknowledge,
  applyTicketChange,
  changePolicy,
  escalationEffects,
  fireDue,
  nextSlaWakeUp,
  type SlaDecision,
  startSla,
} from '../domain/sla';
import type { PolicySnapshot } from '../domain/sla-policy';
import type { Actor, Message, Ticket } from '../domain/ticket';
import {
  addMessage,
  assertExpectedVersion,
  autoClose,
  autoCloseDueAt,
  type Decision,
  openTicket,
  patchTicket,
  recordEvents,
} from '../domain/ticket-state-machine';
import type { ProjectionActivities } from '../activities/projection';
import type { SlaActivities } from '../activities/sla';
import {
  acknowledgeSlaUpdate,
  addMessageUpdate,
  getTicketQuery,
  patchTicketUpdate,
  slaConfigChangedSignal,
  ticketOpenedUpdate,
  type TicketWorkflowInput,
} from './ticket-contract';
import { serialQueue } from './serial';

// Projection writes and policy look-ups are short and idempotent: local activities keep them
// inside the workflow task.
const { projectTicketChange, resolveSlaPolicy } = proxyLocalActivities<ProjectionActivities & SlaActivities>({
  startToCloseTimeout: '15s',
  retry: { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '10s' },
});

const SYSTEM: Actor = { type: 'system', id: null };
const slaLateness = metricMeter.createHistogram('deskflow_sla_trigger_lateness', 'int', 'ms', 'SLA timer fired minus due time');
const commitFailures = metricMeter.createCounter('deskflow_ticket_commit_failures', 'failures', 'Ticket changes the projection refused (the ticket kept its state)');
/** A timer whose change the projection refused waits this long (doubling, capped) before it tries again. */
const TIMER_RETRY_FIRST_MS = 60_000;
const TIMER_RETRY_MAX_MS = 3_600_000;

/** A command's outcome: the next ticket, its events (one per version) and any new message. */
interface Change {
  ticket: Ticket;
  events: TicketEvent[];
  message?: Message;
}

export async function ticketWorkflow(input: TicketWorkflowInput): Promise<Ticket> {
  const { settings } = input;
  const tenantId = input.open.tenant_id;
  let ticket: Ticket | null = input.carried?.ticket ?? null;
  let policy: PolicySnapshot | null = input.carried?.policy ?? null;
  const serially = serialQueue();
  const publishSearchAttributes = searchAttributePublisher();
  let openFailure: unknown = null;

  const current = (): Ticket => {
    if (ticket === null) throw new DeskflowError('not_found', 'ticket is not opened yet');
    return ticket;
  };
  const assertTenant = (requestTenant: string) => {
    if (requestTenant !== tenantId) throw new DeskflowError('not_found', 'ticket not found');
  };
  const now = () => new Date().toISOString();
  // Workflow time stands still during a task, but a task's local activities take real time: a timer
  // armed after a commit would start late by that much. The projection reports the wall clock at its
  // commit (recorded in history, so replay sees the same), and timers count from the later of the two.
  let committedAt = 0;
  const timerClock = () => Math.max(Date.now(), committedAt);

  /**
   * Runs one command after the previous one, as all or nothing: if any step fails (the projection
   * refused the change, or a bug), the live state stays exactly as it was.
   */
  const transact = <T>(fn: () => Promise<T>): Promise<T> =>
    serially(async () => {
      const saved = { ticket, policy };
      try {
        return await fn();
      } catch (err) {
        ({ ticket, policy } = saved);
        throw toFailure(err);
      }
    });

  /** Like `transact` for work nobody waits on (timers, signals): a failure is logged and reported as false. */
  const attempt = (what: string, fn: () => Promise<void>): Promise<boolean> =>
    transact(fn).then(
      () => true,
      (err: unknown) => {
        log.warn(`ticket ${what} failed; the ticket keeps its state`, { error: String((err as Error)?.message ?? err) });
        return false;
      },
    );

  /** Persist a change, then make it the live state. */
  const commit = async (change: Change, opts: { searchAttributesSet?: boolean } = {}): Promise<void> => {
    if (change.events.length === 0) return;
    const projected = await projectTicketChange({ ticket: change.ticket, events: change.events, message: change.message }).catch(
      (err: unknown) => {
        throw refused(err, change);
      },
    );
    committedAt = Math.max(committedAt, projected?.committed_at ?? 0); // absent in histories from before it was reported
    ticket = change.ticket;
    publishSearchAttributes(ticket, opts.searchAttributesSet);
    // The policy or its calendar changed after this ticket looked it up (a rollout may have missed it): re-match.
    const latest = projected?.sla_config;
    if (latest && ticket.sla && (latest.policy_version > ticket.sla.policy_version || latest.calendar_version > ticket.sla.calendar_version)) {
      slaConfigChanged(latest.policy_version > ticket.sla.policy_version ? 'policy_updated' : 'calendar_updated');
    }
  };

  /** SLA decisions become timeline events, each its own version. */
  const withSlaDecisions = (change: Change, decisions: SlaDecision[], sla: Ticket['sla']): Change => {
    if (decisions.length === 0) return sla === change.ticket.sla ? change : { ...change, ticket: { ...change.ticket, sla } };
    const recorded = recordEvents(
      { ...change.ticket, sla },
      decisions.map((d) => ({ type: d.type, actor: SYSTEM, data: d.data })),
      now(),
    );
    return { ...change, ticket: recorded.ticket, events: [...change.events, ...recorded.events] };
  };

  /** Follows a ticket command with its SLA effects, re-matching the policy when what it matches on changed. */
  const withSla = async (before: Ticket, decision: Decision): Promise<Change> => {
    let change: Change = { ticket: decision.ticket, events: decision.event ? [decision.event] : [], message: decision.message };
    if (decision.event === null) return change;
    if (policy && change.ticket.sla) {
      const r = applyTicketChange(change.ticket.sla, policy, before, change.ticket, decision.message, Date.now());
      change = withSlaDecisions(change, r.decisions, r.sla);
    }
    const matchedOnChanged =
      before.priority !== change.ticket.priority || before.channel !== change.ticket.channel || before.tags.join() !== change.ticket.tags.join();
    if (matchedOnChanged) change = await rematch(change, before.priority !== change.ticket.priority ? 'priority_changed' : 'rematched');
    return change;
  };

  /** Looks the policy up again (first active match by position) and applies what changed. */
  const rematch = async (change: Change, reason: 'rematched' | 'priority_changed' | 'policy_updated' | 'calendar_updated'): Promise<Change> => {
    const t = change.ticket;
    if (t.status === 'closed') return change;
    const found = await resolveSlaPolicy({
      tenant_id: tenantId,
      facts: { priority: t.priority, channel: t.channel, tags: t.tags, customer_id: t.customer_id },
    });
    return adoptPolicy(change, found, reason);
  };

  const adoptPolicy = (change: Change, found: PolicySnapshot | null, reason: Parameters<typeof rematch>[1]): Change => {
    const t = change.ticket;
    // No match keeps the current policy: deadlines already promised are not silently dropped.
    if (!found) return change;
    if (!policy || !t.sla) {
      const started = startSla(found, t, Date.now());
      policy = found;
      return withSlaDecisions(change, started.decisions, started.sla);
    }
    const same = found.id === policy.id && found.version === policy.version && found.calendar.version === policy.calendar.version;
    if (same && reason !== 'priority_changed') return change;
    const why = found.id !== policy.id ? 'rematched' : found.calendar.version !== policy.calendar.version ? 'calendar_updated' : reason;
    const moved = changePolicy(t.sla, policy, found, t, Date.now(), why);
    policy = found;
    return withSlaDecisions(change, moved.decisions, moved.sla);
  };

  /** Warnings, breaches and escalation rules that are due now, with the changes their actions ask for. */
  const runSlaTimers = async (): Promise<void> => {
    const t = current();
    if (!policy || !t.sla || t.status === 'closed') return;
    const fired = fireDue(t.sla, policy, Date.now());
    // One observation per detection (a breach or a warning), not per rule it triggers.
    for (const d of fired.decisions) {
      if ((d.type === 'sla.breached' || d.type === 'sla.warning') && typeof d.data.lateness_ms === 'number') {
        slaLateness.record(Math.max(0, Math.round(d.data.lateness_ms)));
      }
    }
    let change = withSlaDecisions({ ticket: t, events: [] }, fired.decisions, fired.sla);
    for (const escalation of fired.escalations) {
      const effects = escalationEffects(escalation, change.ticket);
      let changes = {};
      if (effects.patch) {
        const before = change.ticket;
        const patched = patchTicket(before, effects.patch, SYSTEM, now());
        if (patched.event) {
          changes = patched.event.changes;
          const r = policy && patched.ticket.sla ? applyTicketChange(patched.ticket.sla, policy, before, patched.ticket, undefined, Date.now()) : null;
          change = { ...change, ticket: { ...patched.ticket, version: before.version, updated_at: before.updated_at } };
          if (r) change = { ...change, ticket: { ...change.ticket, sla: r.sla } };
        }
      }
      change = withSlaDecisions(
        change,
        [
          {
            type: 'sla.escalated',
            data: {
              metric: escalation.metric,
              rule_id: escalation.rule_id,
              trigger: escalation.trigger,
              due_at: escalation.due_at,
              lateness_ms: escalation.lateness_ms,
              changes,
              notify: effects.notify,
              emit: effects.emit,
            },
          },
        ],
        change.ticket.sla,
      );
      if (effects.patch?.priority !== undefined && effects.patch.priority !== t.priority) change = await rematch(change, 'priority_changed');
    }
    await commit(change);
  };

  setHandler(getTicketQuery, () => ticket);

  setHandler(
    ticketOpenedUpdate,
    async () => {
      await condition(() => ticket !== null || openFailure !== null);
      if (ticket === null) throw openFailure;
      return current();
    },
    { validator: ({ tenant_id }) => asFailure(() => assertTenant(tenant_id)) },
  );

  setHandler(
    patchTicketUpdate,
    (req) =>
      transact(async () => {
        const before = current();
        assertExpectedVersion(before, req.expected_version);
        await commit(await withSla(before, patchTicket(before, req.patch, req.actor, now())));
        return current();
      }),
    {
      // Reject before anything is written (or even recorded in history).
      validator: (req) =>
        asFailure(() => {
          assertTenant(req.tenant_id);
          assertExpectedVersion(current(), req.expected_version);
          patchTicket(current(), req.patch, req.actor, now());
        }),
    },
  );

  setHandler(
    addMessageUpdate,
    (req) =>
      transact(async () => {
        const before = current();
        const decision = addMessage(before, req.message, req.actor, req.message_id, now(), req.external_id ?? null);
        await commit(await withSla(before, decision));
        return { ticket: current(), message: decision.message };
      }),
    {
      validator: (req) =>
        asFailure(() => {
          assertTenant(req.tenant_id);
          addMessage(current(), req.message, req.actor, req.message_id, now());
        }),
    },
  );

  setHandler(
    acknowledgeSlaUpdate,
    (req) =>
      transact(async () => {
        const t = current();
        if (!t.sla) throw new DeskflowError('rule_violation', 'no SLA policy applies to this ticket');
        const acked = acknowledge(t.sla, Date.now());
        const recorded = recordEvents(t, acked.decisions.map((d) => ({ type: d.type, actor: req.actor, data: d.data, update: { sla: acked.sla } })), now());
        await commit(recorded);
        return current();
      }),
    {
      validator: (req) =>
        asFailure(() => {
          assertTenant(req.tenant_id);
          if (current().status === 'closed') throw new DeskflowError('ticket_closed', 'the ticket is closed');
          if (!current().sla) throw new DeskflowError('rule_violation', 'no SLA policy applies to this ticket');
        }),
    },
  );

  /** Queued behind whatever runs now: re-match and move the deadlines. */
  function slaConfigChanged(reason: 'policy_updated' | 'calendar_updated'): void {
    void attempt(`re-match (${reason})`, async () => {
      if (ticket === null || ticket.status === 'closed') return;
      await commit(await rematch({ ticket, events: [] }, reason));
    });
  }
  setHandler(slaConfigChangedSignal, ({ reason }) => slaConfigChanged(reason));

  if (ticket === null) {
    try {
      await transact(async () => {
        const opened = openTicket(input.open, input.open.first_message_id ?? uuid4(), now());
        const first: Change = { ticket: opened.ticket, events: [opened.event], message: opened.message };
        // The API matches the policy as it opens the ticket (saving a look-up here); otherwise look it up.
        const change = input.open.sla_policy !== undefined ? adoptPolicy(first, input.open.sla_policy, 'rematched') : await rematch(first, 'rematched');
        // The starter set the opening search attributes already; nothing to upsert for the new ticket.
        await commit(change, { searchAttributesSet: change.ticket.sla === null });
      });
    } catch (err) {
      // A ticket that cannot be opened never existed: the creating request gets the problem, the run fails visibly.
      openFailure = err;
      await condition(allHandlersFinished);
      throw err;
    }
  }

  // The lifecycle: wait for a change, an SLA deadline, or the auto-close of a solved ticket.
  let timerFailures = 0;
  while (current().status !== 'closed') {
    if (historyIsLarge(settings.historyEventLimit)) {
      await condition(allHandlersFinished);
      return continueAsNew<typeof ticketWorkflow>({ ...input, carried: { ticket: current(), policy } });
    }
    const seenVersion = current().version;
    const changed = () => current().version !== seenVersion || historyIsLarge(settings.historyEventLimit);
    const closeAt = autoCloseDueAt(current(), settings.autoCloseAfterMs);
    const slaAt = nextSlaWakeUp(current().sla, policy);
    const wakeAt = Math.min(closeAt ?? Infinity, slaAt ?? Infinity);
    if (wakeAt === Infinity) {
      await condition(changed);
    } else if (!(await condition(changed, Math.max(wakeAt - timerClock(), 1)))) {
      const done = await attempt('deadline', async () => {
        await runSlaTimers();
        const dueAt = autoCloseDueAt(current(), settings.autoCloseAfterMs);
        if (dueAt !== null && dueAt <= Date.now()) {
          const closed = autoClose(current(), now());
          await commit({ ticket: closed.ticket, events: closed.event ? [closed.event] : [] });
        }
      });
      // A deadline whose change was refused is tried again later (or at the next change), never in a tight loop.
      timerFailures = done ? 0 : timerFailures + 1;
      if (!done) await condition(changed, Math.min(TIMER_RETRY_FIRST_MS * 2 ** (timerFailures - 1), TIMER_RETRY_MAX_MS));
    }
  }

  await condition(allHandlersFinished);
  return current();
}

function historyIsLarge(limit: number): boolean {
  const info = workflowInfo();
  return info.continueAsNewSuggested || info.historyLength >= limit;
}

/** Keeps the ticket's search attributes current, recording an upsert only when one of them changed. */
function searchAttributePublisher() {
  let published = '';
  return (ticket: Ticket, alreadySet = false): void => {
    const key = `${ticket.status}|${ticket.priority}|${ticket.assignee_id ?? ''}|${ticket.sla?.policy_id ?? ''}`;
    if (key === published) return;
    published = key;
    if (alreadySet) return;
    upsertSearchAttributes([
      { key: SA.status, value: ticket.status },
      { key: SA.priority, value: ticket.priority },
      { key: SA.assignee, value: ticket.assignee_id },
      { key: SA.slaPolicy, value: ticket.sla?.policy_id ?? null },
    ]);
  };
}

/** The projection refused a change: count it, log it, and name it with a stable code. */
function refused(err: unknown, change: Change): DeskflowError {
  // A local activity's failure arrives as its ApplicationFailure itself; a remote one wrapped in ActivityFailure.
  const cause = err instanceof ActivityFailure ? err.cause : err;
  const code = cause instanceof ApplicationFailure && isErrorCode(cause.type) ? cause.type : 'change_failed';
  commitFailures.add(1, { code });
  log.error('the projection refused a ticket change; the ticket keeps its state', {
    ticket_id: change.ticket.id,
    version: change.ticket.version,
    events: change.events.map((e) => e.type),
    code,
    error: String((cause as Error)?.message ?? cause),
  });
  return new DeskflowError(
    code,
    code === 'unstorable_change' ? 'the change holds data that cannot be stored; the ticket is unchanged' : 'the change could not be recorded; the ticket is unchanged',
  );
}

/**
 * Domain errors become ApplicationFailures whose `type` is the stable error code. Any other error
 * (a bug) rejects the one update that hit it rather than failing workflow tasks forever.
 */
function toFailure(err: unknown): unknown {
  if (err instanceof DeskflowError) {
    return ApplicationFailure.create({ type: err.code, message: err.message, nonRetryable: true, details: [err.extra] });
  }
  if (err instanceof TemporalFailure || err instanceof WorkflowError) return err;
  log.error('unexpected error in a ticket command; the ticket keeps its state', { error: String((err as Error)?.stack ?? err) });
  commitFailures.add(1, { code: 'internal' });
  return ApplicationFailure.create({ type: 'internal', message: 'an unexpected error occurred; the ticket is unchanged', nonRetryable: true });
}

function asFailure(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    throw toFailure(err);
  }
}
