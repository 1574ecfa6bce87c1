/**
 * Baseline (b): a worker for the trivial workflow on its own task queue (BENCH_TRIVIAL_TASK_QUEUE), run as its own
 * process like the real worker, with the same workflow-task, local-activity, cache and shard settings
 * (sharded-workers.ts). Its one local activity INSERTs into the scratch database (BENCH_TRIVIAL_DATABASE_URL, the
 * owner: no row-level security set-up).
 */
import { loadConfig } from '../../platform/config';
import { createPool } from '../../platform/db';
import { runShardedWorkers } from './sharded-workers';
import { TRIVIAL_RECORDED_TABLE, type TrivialActivities } from './trivial-contract';

async function main() {
  const config = loadConfig();
  const taskQueue = process.env.BENCH_TRIVIAL_TASK_QUEUE;
  const databaseUrl = process.env.BENCH_TRIVIAL_DATABASE_URL;
  if (!taskQueue || !databaseUrl) throw new Error('BENCH_TRIVIAL_TASK_QUEUE and BENCH_TRIVIAL_DATABASE_URL are required');
  // The real worker's pool (size, warm connections, idle timeout), connected as the owner.
  const pool = createPool({ ...config, DATABASE_URL: databaseUrl });
  const activities: TrivialActivities = {
    async recordPing(workflowId) {
      await pool.query(`INSERT INTO ${TRIVIAL_RECORDED_TABLE} (workflow_id) VALUES ($1) ON CONFLICT DO NOTHING`, [workflowId]);
    },
  };
  try {
    await runShardedWorkers(config, {
      taskQueue,
      workflowsPath: require.resolve('./trivial-workflows'),
      activities,
      stickyQueueScheduleToStartTimeout: config.WORKER_STICKY_QUEUE_TIMEOUT,
      shutdownGraceTime: '10s',
    });
  } finally {
    await pool.end();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
