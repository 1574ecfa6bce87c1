/**
 * Archival of closed tickets, run daily by a Temporal schedule: batches of due tickets (oldest closed first, across
 * tenants) are each exported to object storage, verified by reading the export back, and only then removed from the
 * hot tables. The activity heartbeats after every ticket, so a worker killed mid-batch is noticed within the heartbeat
 * timeout and the retry resumes after the last ticket finished; every step is idempotent besides.
 */
import { continueAsNew, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { ArchivalActivities, ArchivalCursor, ArchivalInput, ArchivalTotals } from './archival-contract';

const { findArchivalCandidates, purgeArchivedSources } = proxyActivities<ArchivalActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1s', maximumInterval: '1 minute', maximumAttempts: 10 },
});

const { archiveTickets } = proxyActivities<ArchivalActivities>({
  // A batch copies files: allow it time, but notice a dead worker within the heartbeat timeout.
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '15s',
  // Per-ticket failures are counted, not thrown: what lands here is storage or the database being away. Bounded, so a
  // long outage fails this run visibly and the next scheduled one starts afresh.
  retry: { initialInterval: '1s', maximumInterval: '1 minute', maximumAttempts: 10 },
});

/** Failures listed in the run's result (all are logged by the worker). */
const LISTED_FAILURES = 20;
const SOURCES_PER_PASS = 500;

export async function archivalWorkflow(input: ArchivalInput): Promise<ArchivalTotals> {
  // One cut-off for the whole run (and its continuations), from the workflow's replay-safe clock.
  const as_of = input.carried?.as_of ?? new Date(Date.now()).toISOString();
  const totals: ArchivalTotals = input.carried?.totals ?? { archived: 0, skipped: 0, failed: 0, purged: 0, failures: [] };
  let after: ArchivalCursor | null = input.carried?.after ?? null;
  for (;;) {
    const batch = await findArchivalCandidates({ as_of, default_after_days: input.default_after_days, after, limit: input.batch_size });
    if (batch.length === 0) break;
    const done = await archiveTickets({ tickets: batch });
    totals.archived += done.archived;
    totals.skipped += done.skipped;
    totals.failed += done.failed;
    totals.failures = [...totals.failures, ...done.failures].slice(0, LISTED_FAILURES);
    const last = batch[batch.length - 1]!;
    after = { closed_at: last.closed_at, ticket_id: last.ticket_id };
    if (batch.length < input.batch_size) break;
    if (workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > 2000) {
      return continueAsNew<typeof archivalWorkflow>({ ...input, carried: { as_of, after, totals } });
    }
  }
  // Hot files of tickets archived by a run that died between its commit and their deletion (normally none).
  for (;;) {
    const purged = await purgeArchivedSources({ limit: SOURCES_PER_PASS });
    totals.purged += purged;
    if (purged < SOURCES_PER_PASS) break;
  }
  return totals;
}
