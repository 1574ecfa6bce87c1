/**
 * Baseline (b): a worker for the trivial workflow on its own task queue (BENCH_TRIVIAL_TASK_QUEUE), run as its own
 * process like the real worker, with the same workflow-task and local-activity settings. Its one local activity
 * INSERTs into the scratch database (BENCH_TRIVIAL_DATABASE_URL, the owner: no row-level security set-up).
 */
import { NativeConnection, Worker } from '@temporalio/worker';
import pg from 'pg';
import { DEFAULT_TEMPORAL_ADDRESS, loadConfig } from '../../platform/config';
import { TRIVIAL_RECORDED_TABLE, type TrivialActivities } from './trivial-contract';

async function main() {
  const config = loadConfig();
  const taskQueue = process.env.BENCH_TRIVIAL_TASK_QUEUE;
  const databaseUrl = process.env.BENCH_TRIVIAL_DATABASE_URL;
  if (!taskQueue || !databaseUrl) throw new Error('BENCH_TRIVIAL_TASK_QUEUE and BENCH_TRIVIAL_DATABASE_URL are required');
  const pool = new pg.Pool({ connectionString: databaseUrl, max: config.DATABASE_POOL_MAX });
  const activities: TrivialActivities = {
    async recordPing(workflowId) {
      await pool.query(`INSERT INTO ${TRIVIAL_RECORDED_TABLE} (workflow_id) VALUES ($1) ON CONFLICT DO NOTHING`, [workflowId]);
    },
  };
  const connection = await NativeConnection.connect({ address: DEFAULT_TEMPORAL_ADDRESS(config) });
  const worker = await Worker.create({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue,
    workflowsPath: require.resolve('./trivial-workflows'),
    activities,
    maxConcurrentWorkflowTaskExecutions: config.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS,
    maxConcurrentLocalActivityExecutions: config.WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES,
    maxCachedWorkflows: config.WORKER_MAX_CACHED_WORKFLOWS,
    shutdownGraceTime: '10s',
  });
  try {
    await worker.run();
  } finally {
    await connection.close();
    await pool.end();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
