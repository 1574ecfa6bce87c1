/**
 * `npm run bench`: Deskflow against bare baselines, measured in one run on this machine, loopback only.
 *
 *  (a) GET /api/v1/tickets/:id (the real API process) vs a bare Express 5 + pg handler running the same query;
 *  (b) POST /api/v1/tickets (the real API + worker) vs a bare loop of Temporal update-with-start on a trivial workflow.
 *
 * Starts everything it needs (Temporal dev server in memory, a scratch database, a Redis key prefix, the worker,
 * the API and both baselines), runs warm-up then BENCH_ROUNDS rounds alternating which side goes first, prints
 * the table, rewrites the generated block of bench/RESULTS.md, and cleans up even when a step fails.
 *
 * Env: BENCH_ROUNDS (3), BENCH_DURATION seconds per measurement (10), BENCH_WARMUP seconds (3),
 *      BENCH_GET_CONNECTIONS (50), BENCH_CREATE_CONCURRENCY (20), BENCH_STRICT=1 (exit 1 when a target is missed),
 *      plus DATABASE_URL / REDIS_URL to point at other PostgreSQL / Redis servers.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection, WithStartWorkflowOperation } from '@temporalio/client';
import { Redis } from 'ioredis';
import pg from 'pg';
import { loadConfig } from '../platform/config';
import { createPool, dropDatabase } from '../platform/db';
import { startTemporalDevServer } from '../platform/temporal-dev-server';
import { freePort, runTs } from '../test/support/processes';
import { createTenant } from '../test/support/stack';
import { pingUpdate, TRIVIAL_WORKFLOW_TYPE } from './baselines/trivial-contract';
import type { trivialWorkflow } from './baselines/trivial-workflows';
import { measureAutocannon, measureLoop, postJson } from './lib/load';
import { describeMachine, loadAverage } from './lib/machine';
import {
  type Comparison,
  formatMarkdown,
  formatText,
  pct,
  type Settings,
  type Side,
  type Summary,
  summarizeComparison,
  type Target,
  writeResults,
} from './lib/report';
import { type Service, spawnTs, waitForHttp } from './lib/services';
import type { Sample } from './lib/stats';

const RESULTS_FILE = path.join(__dirname, 'RESULTS.md');
const WORKER_READY = "state: 'RUNNING'"; // the Temporal SDK's log line once a worker polls its queue
const SETTLE_MS = 500;

const log = (msg: string) => console.log(`[bench] ${msg}`);

function numberEnv(name: string, fallback: number, { integer = true, min = 1 } = {}): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
    throw new Error(`${name}=${raw}: expected ${integer ? 'an integer' : 'a number'} ≥ ${min}`);
  }
  return value;
}

function readSettings(): Settings {
  return {
    rounds: numberEnv('BENCH_ROUNDS', 3),
    durationS: numberEnv('BENCH_DURATION', 10, { integer: false, min: 1 }),
    warmupS: numberEnv('BENCH_WARMUP', 3, { integer: false, min: 0 }),
    getConnections: numberEnv('BENCH_GET_CONNECTIONS', 50),
    createConcurrency: numberEnv('BENCH_CREATE_CONCURRENCY', 20),
  };
}

/** Teardown steps, run once, last added first; a failing step does not skip the others. */
class Cleanup {
  private readonly steps: { name: string; fn: () => Promise<unknown> }[] = [];
  private readonly late: Promise<unknown>[] = [];
  private running?: Promise<boolean>;

  add(name: string, fn: () => Promise<unknown>): void {
    if (this.running) {
      // Something started while the run was being stopped (a signal during start-up): undo it, stop here.
      this.late.push(fn().catch(() => undefined));
      throw new Error(`stopping: ${name} started after cleanup began`);
    }
    this.steps.push({ name, fn });
  }

  async run(): Promise<boolean> {
    this.running ??= (async () => {
      let ok = true;
      for (const step of [...this.steps].reverse()) {
        try {
          await step.fn();
        } catch (err) {
          ok = false;
          console.error(`[bench] cleanup: ${step.name} failed: ${(err as Error).message}`);
        }
      }
      return ok;
    })();
    const ok = await this.running;
    while (this.late.length) await Promise.allSettled(this.late.splice(0));
    return ok;
  }
}

async function must<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new Error(`Benchmark prerequisite missing: ${what}: ${(err as Error).message}`);
  }
}

async function deleteRedisKeys(redisUrl: string, prefix: string): Promise<number> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  let deleted = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      if (keys.length) deleted += await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return deleted;
}

function isTicket(value: unknown): value is { id: string; status: string } {
  return typeof value === 'object' && value !== null && typeof (value as { id?: unknown }).id === 'string';
}

async function getJson(url: string, headers: Record<string, string>): Promise<unknown> {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET ${url}: HTTP ${res.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text) as unknown;
}

const fmt = (s: Sample) =>
  `${s.rps.toFixed(1)} req/s, p50 ${s.p50.toFixed(1)} / p95 ${s.p95.toFixed(1)} / p99 ${s.p99.toFixed(1)} ms` +
  (s.errors ? `, ${s.errors} errors (${s.firstError ?? '?'})` : '');

async function main(cleanup: Cleanup): Promise<number> {
  const settings = readSettings();
  const base = loadConfig(process.env);
  const runId = `${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const adminUrl = new URL(base.DATABASE_URL);
  adminUrl.pathname = '/postgres';
  const databaseUrl = new URL(base.DATABASE_URL);
  databaseUrl.pathname = `/deskflow_bench_${runId}`;
  const redisPrefix = `deskflow-bench:${runId}:`;
  const taskQueue = `bench-tickets-${runId}`;
  const trivialTaskQueue = `bench-trivial-${runId}`;

  log(`run ${runId}: ${settings.rounds} round(s) × ${settings.durationS} s, warm-up ${settings.warmupS} s`);
  await must(`PostgreSQL at ${adminUrl.host}`, async () => {
    const client = new pg.Client({ connectionString: adminUrl.toString() });
    await client.connect();
    await client.end();
  });
  await must(`Redis at ${base.REDIS_URL}`, async () => {
    const redis = new Redis(base.REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
    try {
      await redis.connect();
      await redis.ping();
    } finally {
      redis.disconnect();
    }
  });
  const machine = await describeMachine(adminUrl.toString(), base.REDIS_URL);
  log(`machine: ${machine.cpu}, ${machine.cores} cores, ${machine.ramGiB} GiB, Node ${machine.node}, load ${machine.loadAverage}`);

  // ---- the stack ---------------------------------------------------------------------------------
  log('starting the Temporal dev server (in memory, headless)…');
  const temporal = await must('Temporal dev server', async () => startTemporalDevServer({ port: await freePort() }));
  cleanup.add('Temporal dev server', () => temporal.stop());
  cleanup.add(`database ${databaseUrl.pathname.slice(1)}`, () => dropDatabase(databaseUrl.toString()));
  cleanup.add(`Redis keys ${redisPrefix}*`, () => deleteRedisKeys(base.REDIS_URL, redisPrefix));

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    HOST: '127.0.0.1',
    DATABASE_URL: databaseUrl.toString(),
    DATABASE_POOL_MAX: '20',
    REDIS_URL: base.REDIS_URL,
    REDIS_KEY_PREFIX: redisPrefix,
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_TASK_QUEUE: taskQueue,
    DEV_IDENTITY: 'true',
    DEMO_SEED: 'false',
  };
  log(`migrating ${databaseUrl.pathname.slice(1)}…`);
  runTs('platform/cli/migrate.ts', env);

  const services: Service[] = [];
  const start = (name: string, entry: string, extra: NodeJS.ProcessEnv = {}): Service => {
    const service = spawnTs(name, entry, { ...env, ...extra });
    services.push(service);
    cleanup.add(`process ${name}`, () => service.stop());
    return service;
  };
  const assertAllRunning = () => services.forEach((s) => s.assertRunning());

  log('starting the worker, the trivial-workflow worker, the API and the bare GET baseline…');
  const worker = start('worker', 'workers/main.ts');
  const trivialWorker = start('trivial-worker', 'bench/baselines/trivial-worker.ts', { BENCH_TRIVIAL_TASK_QUEUE: trivialTaskQueue });
  const apiPort = await freePort();
  const api = start('api', 'api/main.ts', { PORT: String(apiPort) });
  const barePort = await freePort();
  const bare = start('bare-get', 'bench/baselines/bare-get.ts', { PORT: String(barePort), BARE_POOL_MAX: '20' });
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const bareUrl = `http://127.0.0.1:${barePort}`;
  await Promise.all([
    worker.waitForOutput(WORKER_READY, 90_000),
    trivialWorker.waitForOutput(WORKER_READY, 90_000),
    waitForHttp(api, `${apiUrl}/readyz`, {}, 60_000),
    bare.waitForOutput('bare-get listening', 60_000),
  ]);

  const connection = await Connection.connect({ address: temporal.address });
  cleanup.add('Temporal client connection', () => connection.close());
  const temporalClient = new Client({ connection, namespace: base.TEMPORAL_NAMESPACE });
  const agent = new http.Agent({ keepAlive: true, maxSockets: settings.createConcurrency });
  cleanup.add('HTTP agent', async () => agent.destroy());

  // ---- data: a tenant with a customer (straight in SQL), one ticket created through the API -----------
  const pool = createPool({ DATABASE_URL: databaseUrl.toString(), DATABASE_POOL_MAX: 1 });
  const tenant = await createTenant(pool, 'Bench Inc').finally(() => pool.end());
  const createUrl = new URL('/api/v1/tickets', apiUrl);
  const createBody = JSON.stringify({
    subject: 'Benchmark ticket',
    description: 'Created by bench/run.ts.',
    customer_id: tenant.customerId,
    priority: 'normal',
  });
  const created = await postJson(agent, createUrl, tenant.headers, createBody);
  if (!isTicket(created)) throw new Error(`POST /api/v1/tickets answered something that is not a ticket: ${JSON.stringify(created)}`);
  const ticketPath = `/api/v1/tickets/${created.id}`;

  // The baseline must do the same work: same row, same JSON.
  const [oursBody, bareBody] = await Promise.all([getJson(apiUrl + ticketPath, tenant.headers), getJson(bareUrl + ticketPath, tenant.headers)]);
  if (JSON.stringify(oursBody) !== JSON.stringify(bareBody)) {
    throw new Error(
      'the bare GET baseline does not answer what the API answers; update bench/baselines/bare-get.ts\n' +
        `api:  ${JSON.stringify(oursBody)}\nbare: ${JSON.stringify(bareBody)}`,
    );
  }
  log(`ticket ${created.id} created; both GET endpoints answer the same body`);

  // ---- the four measurements ---------------------------------------------------------------------
  const getHeaders = { ...tenant.headers, Accept: 'application/json' };
  const measure = {
    get: {
      baseline: (durationS: number) =>
        measureAutocannon({ url: bareUrl + ticketPath, connections: settings.getConnections, durationS, headers: getHeaders }),
      ours: (durationS: number) =>
        measureAutocannon({ url: apiUrl + ticketPath, connections: settings.getConnections, durationS, headers: getHeaders }),
    },
    create: {
      baseline: (durationS: number) =>
        measureLoop({
          concurrency: settings.createConcurrency,
          durationMs: durationS * 1000,
          op: async () => {
            await temporalClient.workflow.executeUpdateWithStart(pingUpdate, {
              startWorkflowOperation: new WithStartWorkflowOperation<typeof trivialWorkflow>(TRIVIAL_WORKFLOW_TYPE, {
                workflowId: `bench-trivial-${randomUUID()}`,
                taskQueue: trivialTaskQueue,
                workflowIdConflictPolicy: 'USE_EXISTING',
              }),
            });
          },
        }),
      ours: (durationS: number) =>
        measureLoop({
          concurrency: settings.createConcurrency,
          durationMs: durationS * 1000,
          op: async () => {
            await postJson(agent, createUrl, tenant.headers, createBody);
          },
        }),
    },
  } satisfies Record<'get' | 'create', Record<Side, (durationS: number) => Promise<Sample>>>;

  const names = {
    get: { baseline: 'bare express+pg', ours: 'deskflow api' },
    create: { baseline: 'bare temporal', ours: 'deskflow api' },
  } as const;

  if (settings.warmupS > 0) {
    for (const key of ['get', 'create'] as const) {
      for (const side of ['baseline', 'ours'] as const) {
        const s = await measure[key][side](settings.warmupS);
        assertAllRunning();
        log(`warm-up ${key} ${names[key][side]}: ${fmt(s)}`);
        await sleep(SETTLE_MS);
      }
    }
  }

  const comparisons: Record<'get' | 'create', Comparison> = {
    get: {
      title: 'GET /api/v1/tickets/:id',
      load: `${settings.getConnections} connections (autocannon)`,
      baselineName: names.get.baseline,
      oursName: names.get.ours,
      rounds: [],
    },
    create: {
      title: 'POST /api/v1/tickets',
      load: `${settings.createConcurrency} concurrent clients (measureLoop)`,
      baselineName: names.create.baseline,
      oursName: names.create.ours,
      rounds: [],
    },
  };

  for (let round = 1; round <= settings.rounds; round++) {
    const order: [Side, Side] = round % 2 === 1 ? ['baseline', 'ours'] : ['ours', 'baseline'];
    for (const key of ['get', 'create'] as const) {
      const samples: Partial<Record<Side, Sample>> = {};
      for (const side of order) {
        const s = await measure[key][side](settings.durationS);
        assertAllRunning();
        samples[side] = s;
        log(`round ${round}/${settings.rounds} ${key} ${names[key][side]}: ${fmt(s)}`);
        await sleep(SETTLE_MS);
      }
      comparisons[key].rounds.push({ order, baseline: samples.baseline!, ours: samples.ours! });
    }
  }

  // ---- verdicts, table, RESULTS.md ---------------------------------------------------------------
  const clean = (s: Omit<Summary, 'targets'>) => s.baseline.errors === 0 && s.ours.errors === 0;
  const errorNote = (s: Omit<Summary, 'targets'>) =>
    clean(s) ? '' : ` — ${s.baseline.errors + s.ours.errors} failed requests, so not met`;
  const rpsPair = (s: Omit<Summary, 'targets'>) => `${s.ours.rps.toFixed(0)} vs ${s.baseline.rps.toFixed(0)} req/s`;

  const summaries: Summary[] = [
    summarizeComparison(comparisons.get, (s): Target[] => [
      {
        label: `GET at ${settings.getConnections} connections ≥ 60 % of bare Express + pg`,
        met: clean(s) && s.ratio >= 0.6,
        detail: `${pct(s.ratio)} (${rpsPair(s)})${errorNote(s)}`,
      },
      {
        label: `GET at ${settings.getConnections} connections p99 < 50 ms`,
        met: clean(s) && s.ours.p99 < 50,
        detail: `p99 ${s.ours.p99.toFixed(1)} ms (bare: ${s.baseline.p99.toFixed(1)} ms)${errorNote(s)}`,
      },
    ]),
    summarizeComparison(comparisons.create, (s): Target[] => [
      {
        label: `create at ${settings.createConcurrency} concurrent clients p95 < 200 ms`,
        met: clean(s) && s.ours.p95 < 200,
        detail: `p95 ${s.ours.p95.toFixed(1)} ms (bare: ${s.baseline.p95.toFixed(1)} ms)${errorNote(s)}`,
      },
      {
        label: `create at ${settings.createConcurrency} concurrent clients ≥ 50 % of bare Temporal update-with-start`,
        met: clean(s) && s.ratio >= 0.5,
        detail: `${pct(s.ratio)} (${rpsPair(s)})${errorNote(s)}`,
      },
    ]),
  ];

  const method = [
    'One run, one machine, loopback only. `bench/run.ts` starts a Temporal dev server (in memory, headless), a scratch ' +
      'PostgreSQL database (migrated), a Redis key prefix, one real worker process (`workers/main.ts`), the real API process ' +
      '(`api/main.ts`, NODE_ENV=production, LOG_LEVEL=warn, DATABASE_POOL_MAX=20), and the two baselines; all are removed at the end. ' +
      'The load generators run inside the bench process.',
    `(a) GET: autocannon, ${settings.getConnections} keep-alive connections, no pipelining, one ticket (created through the API) ` +
      'read over and over with the development identity headers. Baseline `bench/baselines/bare-get.ts`: a bare Express 5 app and a ' +
      'pg Pool (max 20) running the same SELECT as `ticketStore.get` and answering `res.json(row)` (checked to answer the same body ' +
      'before measuring). Latency: autocannon’s per-response time.',
    `(b) create: \`measureLoop\`, ${settings.createConcurrency} concurrent async clients each doing one request at a time until the ` +
      'duration is over (requests in flight then finish and count); latency via process.hrtime around each call. Baseline: the ' +
      'Temporal client’s `executeUpdateWithStart` of a trivial workflow (`bench/baselines/trivial-workflows.ts`: its update handler ' +
      'returns at once) with a fresh workflow id and USE_EXISTING, on its own task queue and worker process ' +
      '(`bench/baselines/trivial-worker.ts`, same workflow-task settings as the real worker). Ours: POST /api/v1/tickets over ' +
      'keep-alive HTTP, a new ticket each time (no Idempotency-Key).',
    `Warm-up: ${settings.warmupS} s per side and scenario before round 1, not recorded. Each round measures both sides for ` +
      `${settings.durationS} s each, alternating which side goes first (odd rounds baseline first).`,
    'req/s = successful requests ÷ wall time of the measurement; percentiles are nearest-rank over every successful request of a ' +
      'measurement; each reported figure is the median of that figure over the rounds; ratio = median ours req/s ÷ median baseline ' +
      'req/s; in the median rows, ok and errors are totals over the rounds. Any failed request (error, timeout, non-2xx) in a ' +
      'scenario marks its targets not met. The whole machine is shared by the load generator, the services and the Temporal dev ' +
      'server, so compare ratios from one run rather than absolute figures across runs.',
  ];

  const text = formatText(summaries);
  console.log(text);
  writeResults(RESULTS_FILE, formatMarkdown(machine, settings, summaries, method, loadAverage()));
  log(`results written to ${path.relative(process.cwd(), RESULTS_FILE) || RESULTS_FILE}`);

  const missed = summaries.flatMap((s) => s.targets).filter((t) => !t.met);
  if (missed.length) log(`${missed.length} target(s) not met${process.env.BENCH_STRICT === '1' ? ' (BENCH_STRICT=1: exit 1)' : ''}`);
  return missed.length && process.env.BENCH_STRICT === '1' ? 1 : 0;
}

const cleanup = new Cleanup();
let exiting = false;
const finish = async (code: number) => {
  if (exiting) return;
  exiting = true;
  log('cleaning up…');
  const ok = await cleanup.run();
  process.exit(code !== 0 ? code : ok ? 0 : 1);
};
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    console.error(`[bench] ${signal}: stopping`);
    void finish(130);
  });
}

main(cleanup).then(
  (code) => finish(code),
  (err: unknown) => {
    // Once a signal has started the cleanup, the run failing because its processes went away is expected.
    if (!exiting) console.error('[bench] failed:', err instanceof Error ? (err.stack ?? err.message) : err);
    return finish(1);
  },
);
