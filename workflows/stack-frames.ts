/**
 * Preloaded once into the workers' workflow sandbox (workers/workflow-bundle.ts), before the SDK freezes its globals.
 *
 * The SDK's promise hook captures and source-maps a stack trace for every promise a workflow creates (for the
 * stack-trace query), ~40 per workflow task of a ticket: with V8's default of 10 frames that was ~22 % of the CPU
 * of replaying a ticket's history (bench/RESULTS.md, 2026-12-05; temporalio/sdk-typescript#1587). Two frames keep
 * what a failed workflow task needs (where it threw, and the caller) and leave the hook almost nothing to map.
 * The cost: the Temporal UI's stack-trace tab of a running ticket shows no frames of our code.
 */
export const WORKFLOW_STACK_FRAMES = 2;

Error.stackTraceLimit = WORKFLOW_STACK_FRAMES;
