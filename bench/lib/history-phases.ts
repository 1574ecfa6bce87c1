/**
 * Where a write's time goes, read from the workflows' own histories (server timestamps): from the start (or the
 * update's arrival) to the workflow task being scheduled, waiting for a worker (schedule-to-start), running on it
 * (start-to-complete: our code and its local activities, e.g. the projection's one statement), and what is left of
 * the client's latency (the API's own work, the RPCs and the update's answer travelling back).
 */
import type { Client } from '@temporalio/client';
import { percentile } from './stats';

type HistoryEvent = NonNullable<Awaited<ReturnType<ReturnType<Client['workflow']['getHandle']>['fetchHistory']>>['events']>[number];

export interface Phases {
  /** Workflows read. */
  n: number;
  /** Medians, ms. */
  scheduleToStart: number;
  startToComplete: number;
  /** Workflow tasks until the update completed (1 when the whole write fits in the first task). */
  tasks: number;
  /** Server time from the workflow's start (or the update's arrival) to the update's completion. */
  serverTotal: number;
}

/** The last index below `before` whose event matches (lib ES2022 has no findLastIndex). */
function lastIndex(events: HistoryEvent[], match: (e: HistoryEvent) => boolean, before = events.length): number {
  for (let i = Math.min(before, events.length) - 1; i >= 0; i--) if (match(events[i]!)) return i;
  return -1;
}

const ms = (e: HistoryEvent) => Number(e.eventTime?.seconds ?? 0) * 1000 + Math.floor((e.eventTime?.nanos ?? 0) / 1e6);

/**
 * Phases of the first update-with-start of each workflow (`workflowIds`), or, with `lastUpdate`, of its last update
 * (a message added to an existing ticket).
 */
export async function historyPhases(client: Client, workflowIds: string[], { lastUpdate = false } = {}): Promise<Phases> {
  const s2s: number[] = [];
  const s2c: number[] = [];
  const tasks: number[] = [];
  const totals: number[] = [];
  for (const id of workflowIds) {
    const events = (await client.workflow.getHandle(id).fetchHistory()).events ?? [];
    const has = (e: HistoryEvent, field: keyof HistoryEvent) => e[field] != null;
    const completedAt = events.findIndex((e) => has(e, 'workflowExecutionUpdateCompletedEventAttributes'));
    const lastCompleted = lastIndex(events, (e) => has(e, 'workflowExecutionUpdateCompletedEventAttributes'));
    const end = lastUpdate ? lastCompleted : completedAt;
    if (end < 0) continue;
    // The write's first event: the workflow's start, or for a later update the task that carried it.
    let begin = 0;
    if (lastUpdate) {
      const accepted = lastIndex(events, (e) => has(e, 'workflowExecutionUpdateAcceptedEventAttributes'), end);
      begin = lastIndex(events, (e) => has(e, 'workflowTaskScheduledEventAttributes'), accepted);
      if (begin < 0) continue;
    }
    let count = 0;
    for (let i = begin; i <= end; i++) {
      const e = events[i]!;
      if (!has(e, 'workflowTaskStartedEventAttributes')) continue;
      const scheduled = lastIndex(events, (x) => has(x, 'workflowTaskScheduledEventAttributes'), i);
      const completed = events.findIndex((x, j) => j > i && has(x, 'workflowTaskCompletedEventAttributes'));
      if (scheduled >= 0) s2s.push(ms(e) - ms(events[scheduled]!));
      if (completed >= 0) s2c.push(ms(events[completed]!) - ms(e));
      count++;
    }
    tasks.push(count);
    totals.push(ms(events[end]!) - ms(events[begin]!));
  }
  const median = (xs: number[]) => percentile(Float64Array.from(xs).sort(), 50);
  return {
    n: totals.length,
    scheduleToStart: median(s2s),
    startToComplete: median(s2c),
    tasks: median(tasks),
    serverTotal: median(totals),
  };
}
