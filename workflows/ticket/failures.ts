/**
 * How a ticket command fails: always as an ApplicationFailure whose `type` is a stable error code,
 * so the API can answer with a problem and the workflow never retries a change that cannot succeed.
 */
import { ActivityFailure, ApplicationFailure, log, metricMeter, TemporalFailure, WorkflowError } from '@temporalio/workflow';
import { DeskflowError, isErrorCode } from '../../domain/errors';
import type { TicketChange } from '../../domain/ticket-state-machine';

const commitFailures = metricMeter.createCounter(
  'deskflow_ticket_commit_failures',
  'failures',
  'Ticket changes the projection refused (the ticket kept its state)',
);

/** The projection refused a change: count it, log it, and name it with a stable code. */
export function refused(err: unknown, change: TicketChange): DeskflowError {
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
    code === 'unstorable_change'
      ? 'the change holds data that cannot be stored; the ticket is unchanged'
      : 'the change could not be recorded; the ticket is unchanged',
  );
}

/**
 * Domain errors become ApplicationFailures whose `type` is the stable error code. Any other error
 * (a bug) rejects the one update that hit it rather than failing workflow tasks forever.
 */
export function toFailure(err: unknown): unknown {
  if (err instanceof DeskflowError) {
    return ApplicationFailure.create({ type: err.code, message: err.message, nonRetryable: true, details: [err.extra] });
  }
  if (err instanceof TemporalFailure || err instanceof WorkflowError) return err;
  log.error('unexpected error in a ticket command; the ticket keeps its state', { error: String((err as Error)?.stack ?? err) });
  commitFailures.add(1, { code: 'internal' });
  return ApplicationFailure.create({ type: 'internal', message: 'an unexpected error occurred; the ticket is unchanged', nonRetryable: true });
}

/** Runs a validator: what it throws rejects the update as a failure with a code. */
export function asFailure(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    throw toFailure(err);
  }
}
