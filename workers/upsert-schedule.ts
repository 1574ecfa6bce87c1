/**
 * Creates a Temporal schedule, or brings an existing one up to the caller's spec, action and policies: every worker
 * does this at start for the schedules it serves, and the result is the same whichever goes first.
 */
import { type Client, ScheduleAlreadyRunning, type ScheduleOptions } from '@temporalio/client';

export async function upsertSchedule(
  temporal: Client,
  options: Required<Pick<ScheduleOptions, 'scheduleId' | 'spec' | 'action' | 'policies'>>,
): Promise<string> {
  const { scheduleId, spec, action, policies } = options;
  try {
    await temporal.schedule.create({ scheduleId, spec, action, policies });
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    await temporal.schedule.getHandle(scheduleId).update((previous) => ({ ...previous, spec, action, policies }));
  }
  return scheduleId;
}
