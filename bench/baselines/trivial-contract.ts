/**
 * Baseline (b): the contract of the trivial workflow, shared by its worker bundle and the bare client loop.
 * Kept apart from trivial-workflows.ts so the client never imports workflow code.
 */
import { defineUpdate } from '@temporalio/workflow';

export const TRIVIAL_WORKFLOW_TYPE = 'trivialWorkflow';

/** Answered at once by the workflow; the bare loop calls it with update-with-start. */
export const pingUpdate = defineUpdate<string, []>('ping');
