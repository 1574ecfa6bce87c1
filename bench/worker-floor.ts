/**
 * `npm run bench:worker-floor` (issue #12): the SDK's own CPU per timer task on this machine, without Deskflow, and how
 * it grows with the workflows a Worker caches. For each size in BENCH_FLOOR_CACHED (default 0, 2000, 10000) it starts a
 * fresh timer baseline worker (bench/baselines/timer-*: a timer, then one local activity doing one INSERT; the heap
 * bench:sla gives its workers), starts that many workflows due in a day (cached, idle), then BENCH_FLOOR_FIRING more
 * whose timers fire at BENCH_FLOOR_RATE/s. A size may repeat (one row each, for a median). The worker's CPU over the
 * firing window comes from /proc per thread, so the table says where a task's CPU goes: the main JavaScript thread,
 * the other Node threads (the workflow thread, V8 and libuv helpers), the SDK core's `workflow-processing` thread, its
 * tokio threads. Prints the table; writes nothing to bench/RESULTS.md (the reading goes into its notes).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import { TIMER_FIRED_TABLE, TIMER_WORKFLOW_TYPE } from './baselines/timer-contract';
import { type Cleanup, numberEnv, requireServices, runBench } from './lib/harness';
import { forEachLimited } from './lib/load';
import { readRssKiB, readThreadCpuMs } from './lib/proc-sampler';
import { table } from './lib/report';
import { scratchNames, startScratch } from './lib/scratch';
import { serviceGroup } from './lib/services';
import { awaitStartsTaken } from './lib/timer-baseline';
import { percentile } from './lib/stats';

const TAG = 'bench-floor';
const WORKER_READY = "state: 'RUNNING'";
const log = (msg: string) => console.log(`[${TAG}] ${msg}`);

const THREAD_GROUPS = ['main JS thread', 'other Node threads', 'core workflow-processing', 'core tokio', 'other'] as const;
type ThreadGroup = (typeof THREAD_GROUPS)[number];

/** CPU ms so far of each thread group of a process. */
function cpuByThreadGroup(pid: number): Record<ThreadGroup, number> {
  const out = Object.fromEntries(THREAD_GROUPS.map((g) => [g, 0])) as Record<ThreadGroup, number>;
  for (const { tid, comm, cpuMs } of readThreadCpuMs(pid)) {
    const group: ThreadGroup =
      tid === pid
        ? 'main JS thread'
        : comm === 'node'
          ? 'other Node threads'
          : comm.startsWith('workflow-proces')
            ? 'core workflow-processing'
            : comm.startsWith('tokio')
              ? 'core tokio'
              : 'other';
    out[group] += cpuMs;
  }
  return out;
}

async function main(cleanup: Cleanup): Promise<number> {
  const sizes = (process.env.BENCH_FLOOR_CACHED ?? '0,2000,10000').split(',').map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 0 || n > 50_000) throw new Error(`BENCH_FLOOR_CACHED: ${s} is not a size from 0 to 50000`);
    return n;
  });
  const rate = numberEnv('BENCH_FLOOR_RATE', 25, { integer: false, max: 200 });
  const firing = numberEnv('BENCH_FLOOR_FIRING', 1000, { max: 20_000 });
  const heapMb = numberEnv('BENCH_FLOOR_WORKER_HEAP_MB', 12_288, { min: 512 });
  const sc = scratchNames('floor');
  await requireServices(sc.serverUrl, sc.base.REDIS_URL);
  const { env, temporal } = await startScratch(sc, cleanup, log, 3600, {});
  const admin = new pg.Pool({ connectionString: sc.adminDatabaseUrl, max: 2 });
  cleanup.add('owner pool', () => admin.end());
  await admin.query(`CREATE TABLE ${TIMER_FIRED_TABLE} (workflow_id text PRIMARY KEY, due_at float8 NOT NULL, fired_at float8 NOT NULL)`);
  const connection = await Connection.connect({ address: temporal.address });
  cleanup.add('Temporal client connection', () => connection.close());
  const client = new Client({ connection, namespace: env.TEMPORAL_NAMESPACE ?? 'default' });
  const { start } = serviceGroup(env, cleanup);

  const rows: string[][] = [];
  for (const [row, cached] of sizes.entries()) {
    const taskQueue = `bench-floor-${sc.runId}-${row}-${cached}`;
    const worker = start(`timer worker (${cached} cached)`, 'bench/baselines/timer-worker.ts', {
      NODE_OPTIONS: [process.env.NODE_OPTIONS, `--max-old-space-size=${heapMb}`].filter(Boolean).join(' '),
      BENCH_TIMER_TASK_QUEUE: taskQueue,
      BENCH_TIMER_DATABASE_URL: sc.adminDatabaseUrl,
      // The floor of one Worker by the size of its cache: not split into shards.
      WORKER_TICKET_SHARDS: '1',
    });
    await worker.waitForOutput(WORKER_READY, 90_000);
    const pid = worker.child.pid!;
    const startWorkflow = (id: string, dueAt: number) =>
      client.workflow.start(TIMER_WORKFLOW_TYPE, { taskQueue, workflowId: id, args: [dueAt] }).then(() => undefined);

    log(`${cached} cached: starting the idle workflows…`);
    const farDue = Date.now() + 86_400_000;
    await forEachLimited(cached, 32, (i) => startWorkflow(`${taskQueue}-idle-${i}`, farDue));
    await awaitStartsTaken({ start: startWorkflow, admin, sentinelId: `${taskQueue}-sentinel`, health: () => worker.assertRunning(), timeoutMs: 900_000 });

    // The firing workflows start ahead of their timers (≥ 30 ms each), so their first tasks are done before the window.
    const t0 = Date.now() + 10_000 + firing * 30;
    await forEachLimited(firing, 32, (i) => startWorkflow(`${taskQueue}-fire-${i}`, Math.round(t0 + (i * 1000) / rate)));
    if (Date.now() > t0) throw new Error('the firing workflows were still starting when the first was due');
    await sleep(t0 - Date.now());
    const from = Date.now();
    const cpuFrom = cpuByThreadGroup(pid);
    await sleep(((firing - 1) * 1000) / rate + 1000);
    const to = Date.now();
    const cpuTo = cpuByThreadGroup(pid);
    const rss = readRssKiB(pid) / 1024;
    await sleep(3000);
    worker.assertRunning();
    const { rows: fired } = await admin.query<{ due_at: number; fired_at: number }>(
      `SELECT due_at, fired_at FROM ${TIMER_FIRED_TABLE} WHERE workflow_id LIKE $1`,
      [`${taskQueue}-fire-%`],
    );
    const inWindow = fired.filter((r) => r.fired_at >= from && r.fired_at <= to).length;
    if (inWindow === 0) throw new Error(`${cached} cached: no timer fired inside the window`);
    const lateness = Float64Array.from(fired.map((r) => r.fired_at - r.due_at)).sort();
    const perTask = (g: ThreadGroup) => (cpuTo[g] - cpuFrom[g]) / inWindow;
    const total = THREAD_GROUPS.reduce((sum, g) => sum + perTask(g), 0);
    rows.push([
      String(cached),
      `${inWindow} of ${firing}`,
      total.toFixed(1),
      ...THREAD_GROUPS.map((g) => perTask(g).toFixed(1)),
      rss.toFixed(0),
      percentile(lateness, 50).toFixed(0),
      percentile(lateness, 99).toFixed(0),
    ]);
    log(`${cached} cached: ${rows.at(-1)!.join(' | ')}`);
    await worker.stop();
  }
  console.log(
    `\n${table(
      [
        'cached idle workflows',
        'timer tasks in the window',
        'worker CPU ms per task',
        ...THREAD_GROUPS.map((g) => `${g} ms`),
        'RSS MiB',
        'lateness p50 ms',
        'lateness p99 ms',
      ],
      rows,
    )}\n\nTimers fired at ${rate}/s; one timer baseline worker per row (bench/baselines/timer-worker.ts, heap ${heapMb} MiB).\n`,
  );
  return 0;
}

runBench(TAG, main, 90 * 60_000);
