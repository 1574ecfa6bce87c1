/**
 * Baseline (worker): the timer workflow's worker on its own task queue (BENCH_TIMER_TASK_QUEUE), run as its own
 * process like the real worker, with the same workflow-task, local-activity, cache and shard settings
 * (sharded-workers.ts). Its one activity INSERTs into the scratch database (BENCH_TIMER_DATABASE_URL).
 */
import { loadConfig } from '../../platform/config';
import { createPool } from '../../platform/db';
import { runShardedWorkers } from './sharded-workers';
import { TIMER_FIRED_TABLE, type TimerActivities } from './timer-contract';

async function main() {
  const config = loadConfig();
  const taskQueue = process.env.BENCH_TIMER_TASK_QUEUE;
  const databaseUrl = process.env.BENCH_TIMER_DATABASE_URL;
  if (!taskQueue || !databaseUrl) throw new Error('BENCH_TIMER_TASK_QUEUE and BENCH_TIMER_DATABASE_URL are required');
  // The real worker's pool (size, warm connections, idle timeout), connected as the owner.
  const pool = createPool({ ...config, DATABASE_URL: databaseUrl });
  const activities: TimerActivities = {
    async recordTimerFired(fired) {
      await pool.query(`INSERT INTO ${TIMER_FIRED_TABLE} (workflow_id, due_at, fired_at) VALUES ($1, $2, $3)`, [
        fired.workflow_id,
        fired.due_at,
        fired.fired_at,
      ]);
    },
  };
  try {
    await runShardedWorkers(config, {
      taskQueue,
      workflowsPath: require.resolve('./timer-workflows'),
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
