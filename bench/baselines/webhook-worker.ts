/**
 * Webhook baselines' worker (its own process and task queue, BENCH_BARE_WEBHOOK_TASK_QUEUE), with the SDK's
 * default activity slots like the real webhook worker. Its one activity POSTs the body over a fresh
 * connection (as platform/webhook-http.ts does: no pooled sockets) with a `webhook-id` header, and fails on a
 * non-2xx answer. No signing, no database, no SSRF check: the floor of "an activity POSTs a webhook".
 */
import http from 'node:http';
import { NativeConnection, Worker } from '@temporalio/worker';
import { DEFAULT_TEMPORAL_ADDRESS, loadConfig } from '../../platform/config';
import type { BareActivities, BarePost } from './webhook-contract';
import { baselineBundlerOptions } from '../../workers/workflow-bundle';

function post({ url, id, body }: BarePost): Promise<number> {
  return new Promise((resolve, reject) => {
    const bytes = Buffer.from(body, 'utf8');
    const req = http.request(url, {
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'application/json', 'content-length': String(bytes.length), 'webhook-id': id },
    });
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) resolve(status);
        else reject(new Error(`HTTP ${status}`));
      });
    });
    req.end(bytes);
  });
}

async function main() {
  const config = loadConfig();
  const taskQueue = process.env.BENCH_BARE_WEBHOOK_TASK_QUEUE;
  if (!taskQueue) throw new Error('BENCH_BARE_WEBHOOK_TASK_QUEUE is required');
  const activities: BareActivities = { barePost: post };
  const connection = await NativeConnection.connect({ address: DEFAULT_TEMPORAL_ADDRESS(config) });
  const worker = await Worker.create({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue,
    workflowsPath: require.resolve('./webhook-workflows'),
    // The real worker's sandbox set-up (its stack-trace depth), so the comparison is of the work alone.
    bundlerOptions: baselineBundlerOptions,
    activities,
    maxConcurrentWorkflowTaskExecutions: config.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS,
    maxCachedWorkflows: config.WORKER_MAX_CACHED_WORKFLOWS ?? 1000,
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
