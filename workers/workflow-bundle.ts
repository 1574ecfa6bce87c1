import { existsSync } from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';
import { type BundleOptions, bundleWorkflowCode, type WorkflowBundleOption } from '@temporalio/worker';
import type { Config } from '../platform/config';
import { COMPILED } from '../platform/paths';

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

/** Sets the sandbox up (its stack-trace depth): preloaded first, and by the benchmark baselines too (baselineBundlerOptions). */
export const sandboxSetup = require.resolve('../workflows/stack-frames');

/** The bundler options of a benchmark baseline's Worker: the real worker's sandbox set-up and nothing of Deskflow's. */
export const baselineBundlerOptions = { preloadModules: [sandboxSetup] };

export const preloadModules = [
  sandboxSetup,
  require.resolve('../domain/errors'),
  require.resolve('../domain/search-attributes'),
  require.resolve('../domain/sla'),
  require.resolve('../domain/ticket-state-machine'),
];

/** The workflow interceptors of a traced worker, bundled in (workflows/tracing.interceptors.ts: no OpenTelemetry in the sandbox). */
export const tracingInterceptorModules = [require.resolve('../workflows/tracing.interceptors')];

/** Where `npm run build` writes the prebuilt bundle (in dist/), one with the tracing interceptors and one without. */
export function prebuiltBundlePath(traced: boolean): string {
  return path.join(__dirname, '..', traced ? 'workflow-bundle.traced.js' : 'workflow-bundle.js');
}

/**
 * The workflow code for Worker.create. Compiled (the image), the bundle `npm run build` made: a worker starts without
 * running webpack (seconds of CPU and a heap it would keep). From the sources (`npm start`, tests), bundled now, so an
 * edit needs no build step.
 */
export async function workflowBundleFor(traced: boolean): Promise<{ bundle: WorkflowBundleOption; prebuilt: boolean }> {
  const prebuilt = prebuiltBundlePath(traced);
  if (COMPILED && existsSync(prebuilt)) return { bundle: { codePath: prebuilt }, prebuilt: true };
  return { bundle: await bundleWorkflows(traced), prebuilt: false };
}

/** Bundles the workflow code now (webpack): at a start from the sources, or once by `npm run build`. */
export function bundleWorkflows(traced: boolean, logger?: BundleOptions['logger']) {
  return bundleWorkflowCode({ workflowsPath, preloadModules, workflowInterceptorModules: traced ? tracingInterceptorModules : [], logger });
}

/**
 * A ticket workflow evicted from the sticky cache is replayed from its history when its next timer
 * fires, so the cache should hold every open ticket a worker owns. The SDK's default budget assumes
 * much larger workflows than ours with the shared domain modules; 0.4 MiB each leaves headroom over
 * what one takes (bench/RESULTS.md).
 */
export function defaultCachedWorkflows(heapLimitMiB = v8.getHeapStatistics().heap_size_limit / 2 ** 20): number {
  return Math.max(100, Math.floor((heapLimitMiB - 256) / 0.4));
}

/** Cached tickets per ticket Worker when WORKER_TICKET_SHARDS is unset, and the most shards that default picks. */
export const CACHED_PER_SHARD = 2_500;
export const MAX_DEFAULT_SHARDS = 8;

/**
 * Ticket Workers for a process caching `cachedWorkflows`: one per 2,500, at most eight (and at most one per two of
 * `workflowTaskSlots`). The SDK's core walks a
 * Worker's whole cache on each of its inputs on one thread (bench/RESULTS.md, 2026-12-04): at 10,000 cached one
 * Worker fell a minute behind breaches at 40/s; four cost 18.6 ms of CPU per timer task and kept 72 % of the
 * creation rate as the timers accumulated, eight 14.2 ms and 97 % (same VM, same run settings). Eight is the most measured.
 */
export function defaultTicketShards(cachedWorkflows: number, workflowTaskSlots = Number.POSITIVE_INFINITY): number {
  // Each Worker with a sticky cache needs two workflow-task slots of the total (the SDK refuses fewer).
  return Math.max(1, Math.min(MAX_DEFAULT_SHARDS, Math.ceil(cachedWorkflows / CACHED_PER_SHARD), Math.floor(workflowTaskSlots / 2)));
}

/** The process's sticky cache and its ticket Workers, as configured or by default: one rule for the worker and the baselines. */
export function ticketWorkerLayout(config: Pick<Config, 'WORKER_MAX_CACHED_WORKFLOWS' | 'WORKER_TICKET_SHARDS' | 'WORKER_MAX_CONCURRENT_WORKFLOW_TASKS'>): {
  cachedWorkflows: number;
  shards: number;
} {
  const cachedWorkflows = config.WORKER_MAX_CACHED_WORKFLOWS ?? defaultCachedWorkflows();
  return { cachedWorkflows, shards: config.WORKER_TICKET_SHARDS ?? defaultTicketShards(cachedWorkflows, config.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS) };
}

/** One shard's part of a process-wide total (task slots, cache); a total of 0 (a disabled cache) stays 0 in every shard. */
export function shareOf(total: number, shards: number): number {
  return total === 0 ? 0 : Math.max(1, Math.ceil(total / shards));
}
