/**
 * Baseline (b): the contract of the trivial workflow, shared by its worker bundle, its worker and the bare client loop.
 * Kept apart from trivial-workflows.ts so the client never imports workflow code.
 */
import { defineUpdate } from '@temporalio/workflow';

export const TRIVIAL_WORKFLOW_TYPE = 'trivialWorkflow';

/** Answered at once by the workflow; the bare loop calls it with update-with-start. */
export const pingUpdate = defineUpdate<string, []>('ping');

/**
 * Answered once one local activity has done one INSERT: the floor of a write whose workflow persists it before it
 * answers, as a ticket's workflow projects every change before its update completes (DESIGN.md, the one rule of state).
 */
export const recordedPingUpdate = defineUpdate<string, []>('recordedPing');

/** The table that local activity inserts into (created by the bench in its scratch database). */
export const TRIVIAL_RECORDED_TABLE = 'bench_trivial_recorded';

export interface TrivialActivities {
  recordPing(workflowId: string): Promise<void>;
}
