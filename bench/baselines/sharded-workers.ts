/**
 * A baseline's Workers, split as the real worker splits its ticket Workers (workers/main.ts): WORKER_TICKET_SHARDS, or
 * by default one per 2,500 cached, each with its own connection and its share of the cache and task slots. A baseline
 * and Deskflow then run on the same Worker topology: as many pollers, and caches of the same size for the SDK's core
 * to walk on every input. Their sandbox is set up as the real worker's (`baselineBundlerOptions`: the same stack-trace depth).
 */
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { type Config, DEFAULT_TEMPORAL_ADDRESS } from '../../platform/config';
import { baselineBundlerOptions, shareOf, ticketWorkerLayout } from '../../workers/workflow-bundle';

type BaselineOptions = Omit<
  WorkerOptions,
  | 'bundlerOptions'
  | 'connection'
  | 'namespace'
  | 'identity'
  | 'maxConcurrentWorkflowTaskExecutions'
  | 'maxConcurrentLocalActivityExecutions'
  | 'maxCachedWorkflows'
>;

/** Runs the baseline's Workers until the process is told to stop; returns once all have stopped. */
export async function runShardedWorkers(config: Config, options: BaselineOptions): Promise<void> {
  const { cachedWorkflows: cached, shards } = ticketWorkerLayout(config);
  const connections = await Promise.all(Array.from({ length: shards }, () => NativeConnection.connect({ address: DEFAULT_TEMPORAL_ADDRESS(config) })));
  try {
    const workers = await Promise.all(
      connections.map((connection, i) =>
        Worker.create({
          ...options,
          bundlerOptions: baselineBundlerOptions,
          connection,
          namespace: config.TEMPORAL_NAMESPACE,
          ...(shards > 1 ? { identity: `${process.pid}@baseline/${i + 1}` } : {}),
          maxConcurrentWorkflowTaskExecutions: shareOf(config.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS, shards),
          maxConcurrentLocalActivityExecutions: shareOf(config.WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES, shards),
          maxCachedWorkflows: shareOf(cached, shards),
        }),
      ),
    );
    await Promise.all(workers.map((w) => w.run()));
  } finally {
    await Promise.allSettled(connections.map((c) => c.close()));
  }
}
