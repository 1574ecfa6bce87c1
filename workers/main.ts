/**
 * The worker process: runs ticket workflows and their activities on TEMPORAL_TASK_QUEUE, webhook backoff
 * workflows on TEMPORAL_WEBHOOK_TASK_QUEUE (a second Worker: failing receivers never compete with tickets
 * and SLA timers for task slots), the webhook dispatcher (first attempts) and the SLA outbox relay.
 * SIGINT/SIGTERM drain in-flight tasks before exit (the SDK's default shutdown signals).
 */
import { tracedWorkerOptions, tracing } from './tracing'; // first: it instruments what the imports below load
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createActivities } from '../activities';
import { createArchivalActivities } from '../activities/archival';
import { createTicketRestoreActivities } from '../activities/ticket-restore';
import { createWarmupActivities } from '../activities/worker-warmup';
import { breakerSettingsOf, webhookCircuitBreaker } from '../activities/webhook-circuit-breaker';
import { createWebhookDeliveryActivities, startWebhookDispatcher } from '../activities/webhook-delivery';
import { createWebhookRedriveActivities } from '../activities/webhook-redrive';
import { createWebhookRetentionActivities } from '../activities/webhook-retention';
import { createDataRetentionActivities } from '../activities/data-retention';
import { DEFAULT_TEMPORAL_ADDRESS, loadConfig } from '../platform/config';
import { createPool } from '../platform/db';
import { createObjectStorage } from '../platform/object-storage';
import { safeLookup, webhookUrlPolicy } from '../platform/ssrf';
import { createFieldCrypto } from '../platform/field-crypto';
import { firstFreeAddress } from '../platform/free-address';
import { createLogger } from '../platform/logger';
import { createRedis } from '../platform/redis';
import { liveWindowOf } from '../platform/live-bus';
import { startOutboxRelay } from '../platform/sla-outbox';
import { connectTemporal } from '../platform/temporal';
import { announceWarmWorker, type WarmAnnouncement } from '../platform/worker-readiness';
import { rolloutStartOptions, SLA_ROLLOUT_WORKFLOW_TYPE, type SlaRolloutInput } from '../workflows/sla-rollout-contract';
import type { slaRolloutWorkflow } from '../workflows/sla-rollout.workflow';
import { ensureArchivalSchedule } from './archival-schedule';
import { warmUpWorker } from './warm-up';
import { ensureWebhookRetentionSchedule } from './webhook-retention-schedule';
import { ensureDataRetentionSchedule } from './data-retention-schedule';
import { shareOf, ticketWorkerLayout, workflowBundleFor } from './workflow-bundle';

async function main() {
  const config = loadConfig();
  const log = createLogger(config, 'worker');
  // A second worker on the same machine takes the next free port rather than failing to start.
  const metricsAddress = config.WORKER_METRICS_ADDRESS ? await firstFreeAddress(config.WORKER_METRICS_ADDRESS) : null;
  if (config.WORKER_METRICS_ADDRESS && !metricsAddress)
    log.warn({ address: config.WORKER_METRICS_ADDRESS }, 'no free metrics port near the configured one; metrics disabled');
  if (metricsAddress) {
    log.info({ metrics: `http://${metricsAddress}/metrics` }, 'worker metrics');
    // Prometheus /metrics: the SDK's metrics plus ours (deskflow_sla_trigger_lateness).
    Runtime.install({
      telemetryOptions: {
        metrics: {
          prometheus: {
            bindAddress: metricsAddress,
            // Boundaries around the 2 s lateness objective, so an alert can be written against it.
            histogramBucketOverrides: { deskflow_sla_trigger_lateness: [50, 100, 250, 500, 1000, 2000, 5000, 10_000, 60_000] },
          },
        },
      },
    });
  }
  const pool = createPool(config, log);
  const redis = createRedis(config);
  const temporal = await connectTemporal(config, { traced: tracing.enabled }); // for activities that signal other workflows
  const connection = await NativeConnection.connect({ address: DEFAULT_TEMPORAL_ADDRESS(config) });
  // Archival, restores and the retention sweep read and write object storage (attachments and archives); closed at exit.
  const storage = createObjectStorage(config);
  // One bundle for both workers: prebuilt by `npm run build` when compiled, else bundled now (the slow part of a start).
  const { bundle: workflowBundle, prebuilt } = await workflowBundleFor(tracing.enabled);
  log.info({ prebuilt }, prebuilt ? 'workflow bundle: prebuilt by npm run build' : 'workflow bundle: bundled at start');
  const traced = tracedWorkerOptions();
  const { cachedWorkflows, shards } = ticketWorkerLayout(config);
  const perShard = (total: number) => shareOf(total, shards);
  const ticketActivities = {
    ...createActivities({ pool, redis, liveWindow: liveWindowOf(config), temporal }),
    ...createWarmupActivities(pool),
    // Archival runs and restores: ticket work, on the ticket queue (their activities never take workflow task slots).
    ...createArchivalActivities({
      pool,
      redis,
      liveWindow: liveWindowOf(config),
      storage,
      temporal,
      storageClass: config.ARCHIVE_STORAGE_CLASS,
      ticketsPerSecond: config.ARCHIVE_TICKETS_PER_SECOND,
      log,
    }),
    ...createTicketRestoreActivities({ pool, redis, liveWindow: liveWindowOf(config), storage, log }),
    ...createDataRetentionActivities({ redis, pool, storage, log }),
  };
  // Ticket Workers on the one task queue (WORKER_TICKET_SHARDS, by default one per 2,500 cached): each keeps its own sticky cache, a share
  // of the process's, so the SDK core's per-input scan of its cache stays short; together they keep the configured totals.
  // The SDK allows one Worker per task queue on a connection: each further shard gets a connection of its own.
  const shardConnections = await Promise.all(Array.from({ length: shards - 1 }, () => NativeConnection.connect({ address: DEFAULT_TEMPORAL_ADDRESS(config) })));
  const ticketWorkers = await Promise.all(
    [connection, ...shardConnections].map((shardConnection, i) =>
      Worker.create({
        connection: shardConnection,
        // The SDK's default identity, told apart per shard: each shows as its own poller in the Temporal UI.
        ...(shards > 1 ? { identity: `${process.pid}@${hostname()}/tickets-${i + 1}` } : {}),
        namespace: config.TEMPORAL_NAMESPACE,
        taskQueue: config.TEMPORAL_TASK_QUEUE,
        workflowBundle,
        activities: ticketActivities,
        maxConcurrentWorkflowTaskExecutions: perShard(config.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS),
        maxConcurrentLocalActivityExecutions: perShard(config.WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES),
        maxCachedWorkflows: perShard(cachedWorkflows),
        stickyQueueScheduleToStartTimeout: config.WORKER_STICKY_QUEUE_TIMEOUT,
        workflowThreadPoolSize: config.WORKER_WORKFLOW_THREADS,
        shutdownGraceTime: '10s',
        ...traced,
      }),
    ),
  );
  const worker = ticketWorkers[0]!;
  const crypto = createFieldCrypto(config);
  // Receivers are checked against the SSRF rules at every attempt, and connected to at the address checked.
  const urlPolicy = webhookUrlPolicy(config);
  // Every attempt passes its endpoint's circuit breaker; an endpoint it disables gets an incident ticket.
  const breaker = webhookCircuitBreaker({
    pool,
    redis,
    crypto,
    log,
    settings: breakerSettingsOf(config),
    probeLeaseMs: config.WEBHOOK_TIMEOUT + 30_000,
    incidents: {
      temporal,
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      settings: { autoCloseAfterMs: config.TICKET_AUTO_CLOSE_AFTER, historyEventLimit: config.TICKET_HISTORY_EVENT_LIMIT },
    },
  });
  const webhookDeps = { pool, redis, crypto, timeoutMs: config.WEBHOOK_TIMEOUT, log, urlPolicy, lookup: safeLookup(urlPolicy), breaker };
  const webhookWorker = await Worker.create({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_WEBHOOK_TASK_QUEUE,
    workflowBundle,
    // Deliveries' backoff, bulk redrives and the delivery log's retention: all webhook work, apart from tickets.
    activities: {
      ...createWebhookDeliveryActivities(webhookDeps),
      ...createWebhookRedriveActivities({ pool }),
      ...createWebhookRetentionActivities({ pool }),
    },
    maxCachedWorkflows: 1000,
    shutdownGraceTime: '10s',
    ...traced,
  });
  const retentionSchedule = await ensureWebhookRetentionSchedule(temporal, {
    taskQueue: config.TEMPORAL_WEBHOOK_TASK_QUEUE,
    retentionMs: config.WEBHOOK_ATTEMPT_RETENTION,
    everyMs: config.WEBHOOK_RETENTION_INTERVAL,
  });
  // Idempotency records and sessions past their limits (a backstop: Redis expires them on time by itself).
  const dataRetentionSchedule = await ensureDataRetentionSchedule(temporal, {
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    everyMs: config.DATA_RETENTION_INTERVAL,
    redis: { idempotency_ms: config.IDEMPOTENCY_TTL, session_ms: config.SESSION_TTL, refresh_token_ms: config.REFRESH_TOKEN_TTL },
  });
  const archivalSchedule = await ensureArchivalSchedule(temporal, {
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    cron: config.ARCHIVE_CRON,
    defaultAfterDays: config.ARCHIVE_AFTER_DAYS,
    batchSize: config.ARCHIVE_BATCH_SIZE,
  });
  log.info(
    {
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      ticketShards: shards,
      retentionSchedule,
      archivalSchedule,
      dataRetentionSchedule,
      webhookTaskQueue: config.TEMPORAL_WEBHOOK_TASK_QUEUE,
      address: DEFAULT_TEMPORAL_ADDRESS(config),
    },
    'worker started',
  );
  // First webhook attempts, straight from the deliveries table; failures go to their backoff workflow.
  const dispatcher = startWebhookDispatcher({
    ...webhookDeps,
    temporal,
    taskQueue: config.TEMPORAL_WEBHOOK_TASK_QUEUE,
    policy: { max_retries: config.WEBHOOK_MAX_RETRIES, base_delay_ms: config.WEBHOOK_RETRY_BASE_DELAY, max_delay_ms: config.WEBHOOK_RETRY_MAX_DELAY },
    intervalMs: config.WEBHOOK_DISPATCH_INTERVAL,
    concurrency: config.WEBHOOK_DISPATCH_CONCURRENCY,
    perEndpoint: config.WEBHOOK_ENDPOINT_CONCURRENCY,
  });
  // Probes after cool-downs, and incident tickets still to open.
  const breakerSweeper = breaker.startSweeper(config.WEBHOOK_DISPATCH_INTERVAL * 5, log);
  // SLA changes whose rollout the API did not get to start (it crashed, or Temporal was down).
  const relay = startOutboxRelay({
    pool,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    log,
    start: async (row) => {
      const options = rolloutStartOptions(config.TEMPORAL_TASK_QUEUE, row.workflow_id, row.input as SlaRolloutInput);
      await temporal.workflow.start<typeof slaRolloutWorkflow>(SLA_ROLLOUT_WORKFLOW_TYPE, options).catch((err: unknown) => {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err; // it ran already
      });
    },
  });
  const instanceId = randomUUID();
  let announcement: WarmAnnouncement | undefined;
  // A stopping worker takes no new task: the API stops counting it at once, not after the drain.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void announcement?.withdraw().catch(() => undefined));
  try {
    // All stop together on SIGINT/SIGTERM (the runtime shuts every worker down).
    // Should one fail, the others are stopped too: the process exits and is restarted whole.
    const allWorkers = [...ticketWorkers, webhookWorker];
    const stopOthers = () => {
      for (const other of allWorkers) if (other.getState() === 'RUNNING') other.shutdown();
    };
    const running = Promise.all(allWorkers.map((w) => w.run().finally(stopOthers)));
    // Ready (for the API's /readyz) only once a create-shaped workflow has gone through this worker's task queue.
    const warm = warmUpWorker(temporal, config.TEMPORAL_TASK_QUEUE, instanceId, log, () => worker.getState() === 'RUNNING').then(
      async (done) => {
        if (!done || worker.getState() !== 'RUNNING') return;
        announcement = await announceWarmWorker(redis, config.TEMPORAL_TASK_QUEUE, instanceId, (err) =>
          log.warn({ err }, 'could not renew the warm-worker entry'),
        );
        log.info({ taskQueue: config.TEMPORAL_TASK_QUEUE }, 'worker warm');
      },
      (err: unknown) => log.error({ err }, 'worker warm-up failed: the API does not count this worker as ready'),
    );
    await Promise.all([running, warm]);
  } finally {
    await announcement?.withdraw().catch(() => undefined);
    await dispatcher.stop();
    await breakerSweeper.stop();
    await relay.stop();
    await connection.close();
    for (const shardConnection of shardConnections) await shardConnection.close();
    await temporal.connection.close();
    await pool.end();
    await storage.close();
    redis.disconnect();
    await tracing.shutdown();
    log.info('worker stopped');
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
