/**
 * Baseline (b): a worker for the trivial workflow on its own task queue (BENCH_TRIVIAL_TASK_QUEUE),
 * run as its own process like the real worker, with the same workflow-task concurrency settings.
 */
import { NativeConnection, Worker } from '@temporalio/worker';
import { DEFAULT_TEMPORAL_ADDRESS, loadConfig } from '../../platform/config';

async function main() {
  const config = loadConfig();
  const taskQueue = process.env.BENCH_TRIVIAL_TASK_QUEUE;
  if (!taskQueue) throw new Error('BENCH_TRIVIAL_TASK_QUEUE is required');
  const connection = await NativeConnection.connect({ address: DEFAULT_TEMPORAL_ADDRESS(config) });
  const worker = await Worker.create({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue,
    workflowsPath: require.resolve('./trivial-workflows'),
    maxConcurrentWorkflowTaskExecutions: config.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS,
    maxCachedWorkflows: config.WORKER_MAX_CACHED_WORKFLOWS,
    shutdownGraceTime: '10s',
  });
  try {
    await worker.run();
  } finally {
    await connection.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
