/**
 * One workflow per ticket (`ticket-<id>`): the single writer of the ticket's lifecycle state.
 * It opens the ticket, applies agents' changes and messages through the domain state machine,
 * keeps the SLA clocks and escalates on time, closes a solved ticket after the auto-close delay,
 * and projects every version to PostgreSQL.
 *
 * This file holds the process: the live state, the handlers and the main loop. What each step
 * computes lives in `ticket/` (commands, SLA deadlines and timers, failures, search attributes).
 */
import { allHandlersFinished, condition, continueAsNew, log, proxyLocalActivities, setHandler, uuid4, workflowInfo } from '@temporalio/workflow';
import { assertExpectedVersion, DeskflowError } from '../domain/errors';
import type { RematchReason } from '../domain/sla';
import type { PolicySnapshot } from '../domain/sla-policy';
import type { Ticket } from '../domain/ticket';
import { addMessage, openTicket, patchTicket, type TicketChange } from '../domain/ticket-state-machine';
import {
  acknowledgeSlaUpdate,
  addMessageUpdate,
  getTicketQuery,
  patchTicketUpdate,
  type ProjectionActivities,
  type SlaActivities,
  slaConfigChangedSignal,
  ticketOpenedUpdate,
  type TicketWorkflowInput,
} from './ticket-contract';
import { serialQueue } from './serial';
import { acknowledgeSla, adoptPolicy, assertCanAcknowledge, closeIfDue, matchFacts, withSlaEffects } from './ticket/commands';
import { asFailure, refused, toFailure } from './ticket/failures';
import { searchAttributePublisher } from './ticket/search-attributes';
import { dueSlaDecisions, escalate, nextWakeUp, recordSlaTriggers, retryAfterRefusal } from './ticket/sla';

// Projection writes and policy look-ups are short and idempotent: local activities keep them
// inside the workflow task.
const { projectTicketChange, resolveSlaPolicy } = proxyLocalActivities<ProjectionActivities & SlaActivities>({
  startToCloseTimeout: '15s',
  retry: { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '10s' },
});

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
  const commit = async (change: TicketChange, opts: { searchAttributesSet?: boolean } = {}): Promise<void> => {
    if (change.events.length === 0) return;
    const projected = await projectTicketChange({ ticket: change.ticket, events: change.events, message: change.message }).catch((err: unknown) => {
      throw refused(err, change);
    });
    committedAt = Math.max(committedAt, projected?.committed_at ?? 0); // absent in histories from before it was reported
    ticket = change.ticket;
    publishSearchAttributes(ticket, opts.searchAttributesSet);
    // The policy or its calendar changed after this ticket looked it up (a rollout may have missed it): re-match.
    const latest = projected?.sla_config;
    if (latest && ticket.sla && (latest.policy_version > ticket.sla.policy_version || latest.calendar_version > ticket.sla.calendar_version)) {
      slaConfigChanged(latest.policy_version > ticket.sla.policy_version ? 'policy_updated' : 'calendar_updated');
    }
  };

  /** Looks the policy up again (first active match by position) and applies what changed. */
  const rematch = async (change: TicketChange, reason: RematchReason): Promise<TicketChange> => {
    if (change.ticket.status === 'closed') return change;
    const found = await resolveSlaPolicy({ tenant_id: tenantId, facts: matchFacts(change.ticket) });
    const adopted = adoptPolicy(policy, change, found, reason, Date.now());
    policy = adopted.policy;
    return adopted.change;
  };

  /** A command's change, followed by its SLA effects (and a re-match when what the policy matches on changed). */
  const withSla = async (before: Ticket, change: TicketChange): Promise<TicketChange> => {
    const effects = withSlaEffects(before, change, policy, Date.now());
    return effects.rematch ? rematch(effects.change, effects.rematch) : effects.change;
  };

  /** Warnings, breaches and escalation rules that are due now, with the changes their actions ask for. */
  const runSlaDeadlines = async (): Promise<void> => {
    const firedOn = current();
    const due = dueSlaDecisions(firedOn, policy, Date.now());
    if (!due) return;
    recordSlaTriggers(due.triggers);
    let change = due.change;
    for (const escalation of due.escalations) {
      const escalated = escalate(change, escalation, policy, firedOn, Date.now());
      change = escalated.rematch ? await rematch(escalated.change, 'priority_changed') : escalated.change;
    }
    await commit(change);
  };

  /** Queued behind whatever runs now: re-match and move the deadlines. */
  function slaConfigChanged(reason: 'policy_updated' | 'calendar_updated'): void {
    void attempt(`re-match (${reason})`, async () => {
      if (ticket === null || ticket.status === 'closed') return;
      await commit(await rematch({ ticket, events: [] }, reason));
    });
  }

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
        const change = addMessage(before, req.message, req.actor, req.message_id, now(), req.external_id ?? null, req.attachments ?? []);
        await commit(await withSla(before, change));
        return { ticket: current(), message: change.message };
      }),
    {
      validator: (req) =>
        asFailure(() => {
          assertTenant(req.tenant_id);
          addMessage(current(), req.message, req.actor, req.message_id, now(), null, req.attachments ?? []);
        }),
    },
  );

  setHandler(
    acknowledgeSlaUpdate,
    (req) =>
      transact(async () => {
        await commit(acknowledgeSla(current(), req.actor, Date.now()));
        return current();
      }),
    {
      validator: (req) =>
        asFailure(() => {
          assertTenant(req.tenant_id);
          assertCanAcknowledge(current());
        }),
    },
  );

  setHandler(slaConfigChangedSignal, ({ reason }) => slaConfigChanged(reason));

  // Open: persist the new ticket under its SLA policy.
  if (ticket === null) {
    try {
      await transact(async () => {
        const opened = openTicket(input.open, input.open.first_message_id ?? uuid4(), now());
        // The API matches the policy as it opens the ticket (saving a look-up here); otherwise look it up.
        let change: TicketChange;
        if (input.open.sla_policy !== undefined) {
          ({ change, policy } = adoptPolicy(policy, opened, input.open.sla_policy, 'rematched', Date.now()));
        } else {
          change = await rematch(opened, 'rematched');
        }
        // The starter set the opening search attributes already (the policy too, when it named one): nothing to upsert.
        const policySet = change.ticket.sla === null || (input.policy_attribute_set === true && change.ticket.sla.policy_id === input.open.sla_policy?.id);
        await commit(change, { searchAttributesSet: policySet });
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
    const wakeUp = nextWakeUp(current(), policy, settings.autoCloseAfterMs);
    if (wakeUp === null) {
      await condition(changed);
    } else if (!(await condition(changed, Math.max(wakeUp.at - timerClock(), 1), { summary: wakeUp.summary }))) {
      const done = await attempt('deadline', async () => {
        await runSlaDeadlines();
        await commit(closeIfDue(current(), settings.autoCloseAfterMs, Date.now()));
      });
      // A deadline whose change was refused is tried again later (or at the next change), never in a tight loop.
      timerFailures = done ? 0 : timerFailures + 1;
      if (!done) {
        const retry = retryAfterRefusal(timerFailures, wakeUp);
        await condition(changed, retry.ms, { summary: retry.summary });
      }
    }
  }

  await condition(allHandlersFinished);
  return current();
}

function historyIsLarge(limit: number): boolean {
  const info = workflowInfo();
  return info.continueAsNewSuggested || info.historyLength >= limit;
}
