/** Driving the timer baseline (bench/baselines/timer-*) from a bench: shared by bench:sla and bench:worker-floor. */
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { TIMER_FIRED_TABLE } from '../baselines/timer-contract';

/**
 * A start returns once the server has it; the worker runs each start's first task later. A sentinel due at once,
 * started last, fires only after the worker has worked through the starts before it: then the backlog is gone.
 */
export async function awaitStartsTaken(o: {
  start: (workflowId: string, dueAt: number) => Promise<void>;
  admin: pg.Pool;
  sentinelId: string;
  health: () => void;
  timeoutMs: number;
}): Promise<void> {
  await o.start(o.sentinelId, Date.now());
  for (const until = Date.now() + o.timeoutMs; Date.now() < until; await sleep(250)) {
    const { rows } = await o.admin.query(`SELECT 1 FROM ${TIMER_FIRED_TABLE} WHERE workflow_id = $1`, [o.sentinelId]);
    if (rows.length) return;
    o.health();
  }
  throw new Error(`the timer baseline worker did not work through its starts within ${o.timeoutMs / 60_000} minutes`);
}
