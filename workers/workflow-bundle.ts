/**
 * How the worker bundles the workflow code.
 *
 * With the SDK's reusable V8 context, every module a workflow loads is evaluated again for each
 * workflow run (its own module cache), unless it is preloaded once into the shared context. The
 * pure `domain/` modules the workflows import (and zod and luxon under them) are stateless apart
 * from pure memo caches, so they are shared: this halves the CPU of starting a ticket workflow and
 * cuts each cached workflow's memory about fivefold (see bench/RESULTS.md, issue #4). The SDK
 * deep-freezes shared modules, so a module added here must not keep per-workflow state.
 */
export const workflowsPath = require.resolve('../workflows');

export const preloadModules = [
  require.resolve('../domain/errors'),
  require.resolve('../domain/search-attributes'),
  require.resolve('../domain/sla'),
  require.resolve('../domain/ticket-state-machine'),
];
