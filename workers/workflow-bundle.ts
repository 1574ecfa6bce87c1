import v8 from 'node:v8';

/**
 * How the worker bundles the workflow code.
 *
 * With the SDK's reusable V8 context, every module a workflow loads is evaluated again for each
 * workflow run (its own module cache), unless it is preloaded once into the shared context. The
 * pure `domain/` modules the workflows import (and zod and luxon under them) are stateless apart
 * from pure memo caches, so they are shared: starting a ticket workflow costs much less CPU and each
 * cached workflow much less memory (measured in bench/RESULTS.md). The SDK deep-freezes shared
 * modules, so a module added here must not keep per-workflow state.
 */
export const workflowsPath = require.resolve('../workflows');

export const preloadModules = [
  require.resolve('../domain/errors'),
  require.resolve('../domain/search-attributes'),
  require.resolve('../domain/sla'),
  require.resolve('../domain/ticket-state-machine'),
];

/**
 * A ticket workflow evicted from the sticky cache is replayed from its history when its next timer
 * fires, so the cache should hold every open ticket a worker owns. The SDK's default budget assumes
 * much larger workflows than ours with the shared domain modules; 0.4 MiB each leaves headroom over
 * what one takes (bench/RESULTS.md).
 */
export function defaultCachedWorkflows(heapLimitMiB = v8.getHeapStatistics().heap_size_limit / 2 ** 20): number {
  return Math.max(100, Math.floor((heapLimitMiB - 256) / 0.4));
}
