/**
 * The Temporal schedule of archival runs: created when a worker starts, or brought up to date with the worker's
 * settings if it exists (every worker does this; the result is the same). One per ticket task queue, so no deployment
 * re-points another's (the test suites share a namespace).
 */
import type { Client, ScheduleOptionsStartWorkflowAction } from '@temporalio/client';
import { upsertSchedule } from './upsert-schedule';
import { archivalScheduleId } from '../domain/archive';
import { ARCHIVAL_WORKFLOW_TYPE, type ArchivalInput } from '../workflows/archival-contract';
import type { archivalWorkflow } from '../workflows/archival.workflow';

/** A run missed while the scheduler was down is still made up within this long; an older one waits for the next. */
export const ARCHIVAL_CATCHUP_WINDOW = '1 day';

export interface ArchivalSettings {
  taskQueue: string;
  cron: string;
  defaultAfterDays: number;
  batchSize: number;
}

export const archivalInput = (s: ArchivalSettings): ArchivalInput => ({ default_after_days: s.defaultAfterDays, batch_size: s.batchSize });

export async function ensureArchivalSchedule(temporal: Client, settings: ArchivalSettings): Promise<string> {
  const scheduleId = archivalScheduleId(settings.taskQueue);
  const action: ScheduleOptionsStartWorkflowAction<typeof archivalWorkflow> = {
    type: 'startWorkflow',
    workflowType: ARCHIVAL_WORKFLOW_TYPE,
    taskQueue: settings.taskQueue,
    workflowId: `${scheduleId}-run`,
    args: [archivalInput(settings)],
  };
  const spec = { cronExpressions: [settings.cron] };
  // A run still going when the next is due: skip that one (the running one walks the same list).
  const policies = { overlap: 'SKIP' as const, catchupWindow: ARCHIVAL_CATCHUP_WINDOW };
  return upsertSchedule(temporal, { scheduleId, spec, action, policies });
}
