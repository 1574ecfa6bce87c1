/**
 * The worker process: runs ticket workflows and their activities on TEMPORAL_TASK_QUEUE.
 * SIGINT/SIGTERM drain in-flight tasks before exit (the SDK's default shutdown signals).
 */
import { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from '../activities';
import { DEFAULT_TEMPORAL_ADDRESS, loadConfig } from '../platform/config';
import { createPool } from '../platform/db';
import { createLogger } from '../platform/logger';

async function main() {
  const config = loadConfig();
  const log = createLogger(config, 'worker');
  const pool = createPool(config);
  const connection = await NativeConnection.connect({ address: DEFAULT_TEMPORAL_ADDRESS(config) });
  const worker = await Worker.create({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    workflowsPath: require.resolve('../workflows'),
    activities: createActivities({ pool }),
    maxConcurrentWorkflowTaskExecutions: config.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS,
    maxConcurrentLocalActivityExecutions: config.WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES,
    maxCachedWorkflows: config.WORKER_MAX_CACHED_WORKFLOWS,
    shutdownGraceTime: '10s',
  });
  log.info({ taskQueue: config.TEMPORAL_TASK_QUEUE, address: DEFAULT_TEMPORAL_ADDRESS(config) }, 'worker started');
  try {
    await worker.run();
  } finally {
    await connection.close();
    await pool.end();
    log.info('worker stopped');
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
