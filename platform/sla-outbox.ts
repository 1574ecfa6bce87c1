/**
 * The SLA rollout outbox: a policy or calendar change writes the rollout it owes its open tickets in
 * the same transaction, so a crash between the commit and the start of the rollout workflow loses
 * nothing. The API starts the workflow at once (fast path); the relay in the worker starts whatever
 * is still pending. Both start it under the row's workflow id, so a second start is a no-op.
 */
import type pg from 'pg';
import type { Logger } from './logger';
import { poll } from './poller';
import { type Db, withTenant } from './tenant-db';

export interface PendingRollout<Input = unknown> {
  workflow_id: string;
  tenant_id: string;
  input: Input;
}

/** Inside the change's own transaction; `taskQueue` is where the rollout runs (the relay there starts it). */
export async function enqueueRollout(db: Db, taskQueue: string, row: PendingRollout): Promise<void> {
  await db.query('INSERT INTO sla_rollout_outbox (workflow_id, tenant_id, task_queue, input) VALUES ($1, $2, $3, $4) ON CONFLICT (workflow_id) DO NOTHING', [
    row.workflow_id,
    row.tenant_id,
    taskQueue,
    JSON.stringify(row.input),
  ]);
}

export async function markRolloutStarted(pool: pg.Pool, tenantId: string, workflowId: string): Promise<void> {
  await withTenant(pool, tenantId, (db) =>
    db.query('UPDATE sla_rollout_outbox SET started_at = now() WHERE tenant_id = $1 AND workflow_id = $2 AND started_at IS NULL', [tenantId, workflowId]),
  );
}

/** Rows left pending for longer than `olderThanMs` (younger ones are the API's fast path, still in flight). */
export async function pendingRollouts(pool: pg.Pool, taskQueue: string, olderThanMs: number, limit: number): Promise<PendingRollout[]> {
  const { rows } = await pool.query<PendingRollout>('SELECT workflow_id, tenant_id, input FROM sla_rollout_pending($1, make_interval(secs => $2), $3)', [
    taskQueue,
    olderThanMs / 1000,
    limit,
  ]);
  return rows;
}

export interface OutboxRelayOptions {
  pool: pg.Pool;
  taskQueue: string;
  log: Logger;
  /** Starts the rollout workflow for a row; must be idempotent (the workflow id is the row's). */
  start: (row: PendingRollout) => Promise<void>;
  everyMs?: number;
  graceMs?: number;
}

/**
 * Polls the outbox and starts what is pending. Runs in every worker process: two relays starting the
 * same row start one workflow. A row whose start fails stays pending and is tried again next round.
 */
export function startOutboxRelay({ pool, taskQueue, log, start, everyMs = 1000, graceMs = 2000 }: OutboxRelayOptions): { stop(): Promise<void> } {
  return poll(
    everyMs,
    async (relay) => {
      for (const row of await pendingRollouts(pool, taskQueue, graceMs, 100)) {
        if (relay.stopped) return;
        try {
          await start(row);
          await markRolloutStarted(pool, row.tenant_id, row.workflow_id);
          log.info({ workflowId: row.workflow_id, tenantId: row.tenant_id }, 'sla rollout started from the outbox');
        } catch (err) {
          log.warn({ err, workflowId: row.workflow_id }, 'sla rollout start failed; it stays pending');
        }
      }
    },
    log,
    'sla outbox relay',
  );
}
