/**
 * `npm run bench`: Deskflow against bare baselines and against itself without authentication, measured in
 * one run on this machine, loopback only. Scenarios (BENCH_SCENARIOS, comma-separated; all by default):
 *
 *  get        (a) GET /api/v1/tickets/:id, closed loop — bare Express 5 + pg running the same SELECT
 *             (bench/baselines/bare-get.ts), the API without auth / rate limit (bench/baselines/unauthenticated-api.ts),
 *             the real API (api/main.ts) with an access JWT and the Redis rate limiter on (limits raised so it never refuses);
 *  create     (b) POST /api/v1/tickets, closed loop — a bare loop of Temporal update-with-start on a trivial workflow,
 *             the unauthenticated API, the authenticated API (both with the real worker);
 *  open       (c) open loop (fixed arrival rate) at BENCH_OPEN_RATES: creates and messages added to a pool of existing
 *             tickets, against bare update-with-start at the same rate (and, recorded beside it, bare update-with-start
 *             whose update first does one local INSERT);
 *  saturation (d) open-loop creates stepped up (BENCH_SATURATION_*) against bare update-with-start, on the in-memory dev
 *             server and on a dev server started as `npm start` starts it (SQLite file), until p95 exceeds a bound or the
 *             rate is not served; with the CPU each process (dev server, worker, trivial worker, API, PostgreSQL, Redis,
 *             the load generator) spends per answered request at each step: what the cores go to as the rate rises;
 *  startup    (e) a fresh `npm start`-like stack (file dev server, worker and API started together): creates at
 *             BENCH_STARTUP_RATE for BENCH_STARTUP_S seconds from the moment /readyz first answers 200, then as long again;
 *  metrics    (f) the cost of the API's metrics (issue #13): the authenticated GET and closed-loop create against the
 *             real API as configured (metrics on) and a second API process with API_METRICS_ADDRESS empty (metrics
 *             off, nothing measured), same worker, same server, alternating;
 *  tracing    (g) the cost of tracing sampled at 10 % (OTLP to a sink in this process) with metrics on, against neither:
 *             the same GET and create, each side a fresh worker and API on task queues of their own, alternating.
 *
 * Starts everything it needs (Temporal dev servers, a scratch database, a Redis key prefix, workers, API processes and
 * the baselines), seeds a tenant, an agent and a customer, logs the agent in, runs warm-up then BENCH_ROUNDS rounds
 * alternating the order of the sides, prints the table, rewrites the generated block of bench/RESULTS.md (or
 * BENCH_RESULTS_FILE), and cleans up even when a step fails.
 *
 * Env: BENCH_ROUNDS (3), BENCH_DURATION seconds per measurement (10), BENCH_WARMUP seconds (3),
 *      BENCH_GET_CONNECTIONS (50), BENCH_CREATE_CONCURRENCY (20), BENCH_OPEN_RATES (7,20), BENCH_MESSAGE_TICKETS (100),
 *      BENCH_SATURATION_SERVERS (memory,file), BENCH_SATURATION_START (20), BENCH_SATURATION_STEP (20),
 *      BENCH_SATURATION_MAX (300), BENCH_SATURATION_P95_MS (500), BENCH_STARTUP_RATE (7), BENCH_STARTUP_S (20),
 *      BENCH_STRICT=1 (exit 1 when a target is missed), plus DATABASE_URL (the application role, deskflow_app) /
 *      DATABASE_ADMIN_URL (the owner) / REDIS_URL to point at other PostgreSQL / Redis servers (their database names are
 *      replaced by the scratch database).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection, WithStartWorkflowOperation } from '@temporalio/client';
import pg from 'pg';
import { customerStore } from '../stores/customers';
import { userStore } from '../stores/users';
import { ticketWorkflowId } from '../domain/ids';
import { loadConfig } from '../platform/config';
import { dropDatabase } from '../platform/db';
import { createFieldCrypto } from '../platform/field-crypto';
import { type DevServer, npmStartDevServerOptions, startTemporalDevServer } from '../platform/temporal-dev-server';
import { freePort, runTs } from '../test/support/processes';
import { login, operatorOf } from '../test/support/stack';
import { pingUpdate, recordedPingUpdate, TRIVIAL_RECORDED_TABLE, TRIVIAL_WORKFLOW_TYPE } from './baselines/trivial-contract';
import type { trivialWorkflow } from './baselines/trivial-workflows';
import { CpuPerRequest, databaseProcesses } from './lib/cpu-per-request';
import { ProcSampler, type ProcTarget } from './lib/proc-sampler';
import { historyPhases } from './lib/history-phases';
import { LATE_MS, measureAutocannon, measureLoop, measureOpenLoop, postJson, windowP95 } from './lib/load';
import { describeMachine, loadAverage } from './lib/machine';
import {
  type Comparison,
  type Extra,
  formatMarkdown,
  formatText,
  type Measured,
  pct,
  ratioOf,
  type Settings,
  type Summary,
  summarizeComparison,
  type Target,
  table,
  textTable,
  writeResults,
} from './lib/report';
import { BENCH_RUNTIME_NOTE, serviceGroup, waitForHttp } from './lib/services';
import { median, medianSample, percentile, type Sample } from './lib/stats';
import { Cleanup, deleteRedisKeys, must, numberEnv, requireServices, withDatabase } from './lib/harness';

const RESULTS_FILE = path.join(__dirname, 'RESULTS.md');
const WORKER_READY = "state: 'RUNNING'"; // the Temporal SDK's log line once a worker polls its queue
const SETTLE_MS = 500;
/** Open loop: requests in flight beyond which a scheduled one is not sent (counted as failed and late). */
const OPEN_MAX_IN_FLIGHT = 2000;
/** Workflows per side read back for the history-phase breakdown of the open loop. */
const PHASE_SAMPLE = 40;
/** The share of a measurement's slowest writes whose phases are read as well (the p95's neighbourhood). */
const TAIL_SHARE = 0.05;
/** Targets of issue #12 for writes under a fixed arrival rate. */
const WRITE_P95_MS = 200;
const WRITE_P95_VS_BARE = 1.5;

const log = (msg: string) => console.log(`[bench] ${msg}`);

const SCENARIOS = ['get', 'create', 'open', 'saturation', 'startup', 'metrics', 'tracing'] as const;
type Scenario = (typeof SCENARIOS)[number];
const SERVERS = ['memory', 'file'] as const;
type ServerKind = (typeof SERVERS)[number];
const SERVER_NAMES: Record<ServerKind, string> = {
  memory: 'in-memory dev server',
  file: 'SQLite-file dev server (as npm start)',
};

/** A comma-separated list of names from `allowed`; `fallback` when unset or empty. */
function listEnv<T extends string>(name: string, allowed: readonly T[], fallback: readonly T[]): T[] {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return [...fallback];
  const items = raw.split(',').map((x) => x.trim());
  const bad = items.filter((x) => !(allowed as readonly string[]).includes(x));
  if (bad.length) throw new Error(`${name}=${raw}: unknown ${bad.join(', ')} (expected some of ${allowed.join(', ')})`);
  return items as T[];
}

function ratesEnv(name: string, fallback: number[]): number[] {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const rates = raw.split(',').map((x) => Number(x.trim()));
  if (rates.some((r) => !Number.isFinite(r) || r <= 0)) throw new Error(`${name}=${raw}: expected positive rates, comma-separated`);
  return rates;
}

interface RunSettings extends Settings {
  scenarios: Set<Scenario>;
  openRates: number[];
  messageTickets: number;
  saturationServers: ServerKind[];
  saturationStart: number;
  saturationStep: number;
  saturationMax: number;
  saturationP95Ms: number;
  startupRate: number;
  startupS: number;
}

function readSettings(): RunSettings {
  const scenarios = listEnv('BENCH_SCENARIOS', SCENARIOS, SCENARIOS);
  const s = {
    rounds: numberEnv('BENCH_ROUNDS', 3),
    durationS: numberEnv('BENCH_DURATION', 10, { integer: false, min: 1 }),
    warmupS: numberEnv('BENCH_WARMUP', 3, { integer: false, min: 0 }),
    getConnections: numberEnv('BENCH_GET_CONNECTIONS', 50),
    createConcurrency: numberEnv('BENCH_CREATE_CONCURRENCY', 20),
    scenarios: new Set(scenarios),
    openRates: ratesEnv('BENCH_OPEN_RATES', [7, 20]),
    messageTickets: numberEnv('BENCH_MESSAGE_TICKETS', 100),
    saturationServers: listEnv('BENCH_SATURATION_SERVERS', SERVERS, SERVERS),
    saturationStart: numberEnv('BENCH_SATURATION_START', 20),
    saturationStep: numberEnv('BENCH_SATURATION_STEP', 20),
    saturationMax: numberEnv('BENCH_SATURATION_MAX', 300),
    saturationP95Ms: numberEnv('BENCH_SATURATION_P95_MS', 500),
    startupRate: numberEnv('BENCH_STARTUP_RATE', 7, { integer: false, min: 0.1 }),
    startupS: numberEnv('BENCH_STARTUP_S', 20, { integer: false, min: 1 }),
  };
  const extra = [
    `BENCH_SCENARIOS=${scenarios.join(',')}`,
    `BENCH_OPEN_RATES=${s.openRates.join(',')}`,
    `BENCH_MESSAGE_TICKETS=${s.messageTickets}`,
    `BENCH_SATURATION_SERVERS=${s.saturationServers.join(',')}`,
    `BENCH_SATURATION_START=${s.saturationStart}`,
    `BENCH_SATURATION_STEP=${s.saturationStep}`,
    `BENCH_SATURATION_MAX=${s.saturationMax}`,
    `BENCH_SATURATION_P95_MS=${s.saturationP95Ms}`,
    `BENCH_STARTUP_RATE=${s.startupRate}`,
    `BENCH_STARTUP_S=${s.startupS}`,
  ].join(' ');
  return { ...s, extra };
}

function isTicket(value: unknown): value is { id: string; status: string } {
  return typeof value === 'object' && value !== null && typeof (value as { id?: unknown }).id === 'string';
}

interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

async function get(url: string, headers: Record<string, string>): Promise<Answer> {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(10_000) });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

function json200(what: string, answer: Answer): unknown {
  if (answer.status !== 200) throw new Error(`${what}: HTTP ${answer.status}: ${answer.text.slice(0, 300)}`);
  return JSON.parse(answer.text) as unknown;
}

const fmt = (s: Sample) =>
  `${s.rps.toFixed(1)} req/s, p50 ${s.p50.toFixed(1)} / p95 ${s.p95.toFixed(1)} / p99 ${s.p99.toFixed(1)} ms` +
  (s.late ? `, ${s.late} late` : '') +
  (s.errors ? `, ${s.errors} errors (${s.firstError ?? '?'})` : '');

/** Rate limits of the run: the limiter runs on every authenticated request but never refuses one. */
const RAISED_LIMIT = '100000000';

type SideKey = 'bare' | 'unauthenticated' | 'authenticated';
const SIDES: readonly SideKey[] = ['bare', 'unauthenticated', 'authenticated'];
type OpenSide = 'bare' | 'bareRecorded' | 'create' | 'message';
const OPEN_NAMES: Record<OpenSide, string> = {
  bare: 'bare update-with-start',
  bareRecorded: 'bare update-with-start + one local INSERT',
  create: 'POST /tickets',
  message: 'POST /tickets/:id/messages',
};

/** The real worker, the trivial-workflow worker and the real API on one Temporal dev server. */
interface TemporalStack {
  kind: ServerKind;
  apiUrl: string;
  apiPid: number | undefined;
  /** Its dev server, worker, trivial worker and API, for the CPU each spends per request. */
  processes: ProcTarget[];
  client: Client;
  /** The real worker's, which the API sends its ticket workflows to. */
  taskQueue: string;
  trivialTaskQueue: string;
  /** Stops its processes (and its dev server when it owns it); cleanup would otherwise at the end. */
  stop(): Promise<void>;
}

const ms1 = (v: number) => (Number.isNaN(v) ? '–' : v.toFixed(1));

async function main(cleanup: Cleanup): Promise<number> {
  const settings = readSettings();
  const want = (s: Scenario) => settings.scenarios.has(s);
  const base = loadConfig(process.env);
  const runId = `${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const databaseName = `deskflow_bench_${runId}`;
  // The API and the worker connect as the application role (RLS applies); migrations, seeding, the bare
  // GET baseline and the final DROP use the owner.
  const appDatabaseUrl = withDatabase(base.DATABASE_URL, databaseName);
  const adminDatabaseUrl = withDatabase(base.DATABASE_ADMIN_URL, databaseName);
  const serverUrl = withDatabase(base.DATABASE_ADMIN_URL, 'postgres');
  const redisPrefix = `deskflow-bench:${runId}:`;

  log(`run ${runId}: ${settings.rounds} round(s) × ${settings.durationS} s, warm-up ${settings.warmupS} s; scenarios ${[...settings.scenarios].join(', ')}`);
  await requireServices(serverUrl, base.REDIS_URL);
  const machine = await describeMachine(serverUrl, base.REDIS_URL);
  log(`machine: ${machine.cpu}, ${machine.cores} cores, ${machine.ramGiB} GiB, Node ${machine.node}, load ${machine.loadAverage}`);

  // Access tokens must outlive the run, whatever the scenarios: hours, with room to spare.
  const accessTokenTtlS = 6 * 3600;

  // ---- the stack ---------------------------------------------------------------------------------
  log('starting the Temporal dev server (in memory, headless)…');
  const temporal = await must('Temporal dev server', async () => startTemporalDevServer({ port: await freePort() }));
  cleanup.add('Temporal dev server', () => temporal.stop());
  cleanup.add(`database ${databaseName}`, () => dropDatabase(adminDatabaseUrl));
  cleanup.add(`Redis keys ${redisPrefix}*`, () => deleteRedisKeys(base.REDIS_URL, redisPrefix));

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    HOST: '127.0.0.1',
    DATABASE_URL: appDatabaseUrl,
    DATABASE_ADMIN_URL: adminDatabaseUrl,
    DATABASE_POOL_MAX: '20',
    REDIS_URL: base.REDIS_URL,
    REDIS_KEY_PREFIX: redisPrefix,
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_TASK_QUEUE: `bench-tickets-${runId}`,
    // Production refuses the development keys: fresh ones for this run (the database is dropped after it).
    FIELD_ENCRYPTION_KEYS: `bench:${randomBytes(32).toString('base64')}`,
    BLIND_INDEX_KEY: randomBytes(32).toString('base64'),
    ACCESS_TOKEN_TTL: `${accessTokenTtlS}s`,
    RATE_LIMIT_PER_MIN: RAISED_LIMIT,
    LOGIN_ATTEMPTS_PER_IP: RAISED_LIMIT,
    LOGIN_ATTEMPTS_PER_ACCOUNT: RAISED_LIMIT,
    DEMO_SEED: 'false',
  };
  const runConfig = loadConfig(env); // the services would refuse an invalid configuration: fail here instead

  log(`migrating ${databaseName} (as the owner)…`);
  runTs('platform/cli/migrate.ts', env);

  // ---- data: a tenant, an agent and a customer (the owner's pool, as test/support/stack.ts createTenant) ----
  const email = `bench-agent-${runId.replace(/_/g, '-')}@bench.test`;
  const password = randomBytes(18).toString('base64url');
  const seed = new pg.Pool({ connectionString: adminDatabaseUrl, max: 2 });
  const { tenantId, agentId, customerId } = await (async () => {
    const id = randomUUID();
    // What the trivial worker's one local activity inserts into (bench/baselines/trivial-worker.ts).
    await seed.query(`CREATE TABLE ${TRIVIAL_RECORDED_TABLE} (workflow_id text PRIMARY KEY, recorded_at timestamptz NOT NULL DEFAULT now())`);
    await seed.query('INSERT INTO tenants (id, name) VALUES ($1, $2)', [id, 'Bench Inc']);
    const agent = await userStore(seed).create(operatorOf(id), { email, password, name: 'Bench agent', role: 'agent' });
    const customer = await customerStore(seed, createFieldCrypto(runConfig)).create(operatorOf(id), randomUUID(), {
      name: 'Bench Customer',
      email: `customer-${runId.replace(/_/g, '-')}@example.com`,
      phone: null,
      external_id: null,
    });
    return { tenantId: id, agentId: agent.id, customerId: customer.id };
  })().finally(() => seed.end());
  log(`tenant ${tenantId}, agent ${agentId}, customer ${customerId}`);

  const { start, assertAllRunning } = serviceGroup(env, cleanup);
  // PostgreSQL's postmaster and Redis, whose CPU the scenarios count: the same processes all run long, looked up once.
  let databaseTargets: Promise<ProcTarget[]> | undefined;
  const databases = () => (databaseTargets ??= databaseProcesses(adminDatabaseUrl, base.REDIS_URL));

  /** Starts the real worker, the trivial worker and the real API on `server` (task queues of their own). */
  const startTemporalStack = async (kind: ServerKind, server: DevServer, suffix: string, ownsServer: boolean): Promise<TemporalStack> => {
    const taskQueue = `bench-tickets-${kind}${suffix}-${runId}`;
    const trivialTaskQueue = `bench-trivial-${kind}${suffix}-${runId}`;
    const onServer = { TEMPORAL_ADDRESS: server.address, TEMPORAL_TASK_QUEUE: taskQueue };
    const worker = start(`worker${suffix}`, 'workers/main.ts', onServer);
    const trivialWorker = start(`trivial-worker${suffix}`, 'bench/baselines/trivial-worker.ts', {
      ...onServer,
      BENCH_TRIVIAL_TASK_QUEUE: trivialTaskQueue,
      BENCH_TRIVIAL_DATABASE_URL: adminDatabaseUrl,
    });
    const port = await freePort();
    const api = start(`api${suffix}`, 'api/main.ts', { ...onServer, PORT: String(port) });
    const apiUrl = `http://127.0.0.1:${port}`;
    await Promise.all([
      worker.waitForOutput(WORKER_READY, 90_000),
      trivialWorker.waitForOutput(WORKER_READY, 90_000),
      waitForHttp(api, `${apiUrl}/readyz`, {}, 90_000),
    ]);
    const connection = await Connection.connect({ address: server.address });
    cleanup.add(`Temporal client connection (${kind})`, () => connection.close());
    return {
      kind,
      apiUrl,
      apiPid: api.child.pid,
      processes: [
        { name: 'dev server', pid: server.process.pid },
        { name: 'worker', pid: worker.child.pid },
        { name: 'trivial worker', pid: trivialWorker.child.pid },
        { name: 'API', pid: api.child.pid },
      ].filter((t): t is ProcTarget => t.pid !== undefined),
      client: new Client({ connection, namespace: base.TEMPORAL_NAMESPACE }),
      taskQueue,
      trivialTaskQueue,
      async stop() {
        await Promise.all([api.stop(), worker.stop(), trivialWorker.stop()]);
        await connection.close();
        if (ownsServer) await server.stop();
      },
    };
  };

  log('starting the worker, the trivial-workflow worker and the API on the in-memory dev server…');
  const memory = await startTemporalStack('memory', temporal, '', false);
  const agent = new http.Agent({ keepAlive: true, maxSockets: settings.createConcurrency });
  cleanup.add('HTTP agent', async () => agent.destroy());
  // Open loop: every scheduled request is sent at once, so no socket limit may queue it in the client.
  const openAgent = new http.Agent({ keepAlive: true });
  cleanup.add('HTTP agent (open loop)', async () => openAgent.destroy());

  const { token } = await login({ url: memory.apiUrl }, email, password);
  // Every side gets the same request headers (the bare baseline and the unauthenticated API ignore Authorization).
  const headers = { Authorization: `Bearer ${token}`, Accept: 'application/json' };
  const createBody = JSON.stringify({
    subject: 'Benchmark ticket',
    description: 'Created by bench/run.ts.',
    customer_id: customerId,
    priority: 'normal',
  });
  const messageBody = JSON.stringify({ body: 'A benchmark reply.', visibility: 'public' });
  /** One update-with-start of a new trivial workflow (`recorded`: its update does one local INSERT first); resolves with its id. */
  const bareStart = async (stack: TemporalStack, recorded = false) => {
    const workflowId = `bench-trivial-${randomUUID()}`;
    await stack.client.workflow.executeUpdateWithStart(recorded ? recordedPingUpdate : pingUpdate, {
      startWorkflowOperation: new WithStartWorkflowOperation<typeof trivialWorkflow>(TRIVIAL_WORKFLOW_TYPE, {
        workflowId,
        taskQueue: stack.trivialTaskQueue,
        workflowIdConflictPolicy: 'USE_EXISTING',
      }),
    });
    return workflowId;
  };
  const bareUpdateWithStart = (stack: TemporalStack) => async () => void (await bareStart(stack));
  const createVia = (apiUrl: string, via = openAgent) => {
    const url = new URL('/api/v1/tickets', apiUrl);
    return async () => void (await postJson(via, url, headers, createBody));
  };
  const openLoopOf = (rate: number, durationS: number, op: () => Promise<void>) =>
    measureOpenLoop({ rate, durationS, maxInFlight: OPEN_MAX_IN_FLIGHT, op, health: assertAllRunning });

  const summaries: Summary[] = [];
  const extra: Extra = { targets: [], markdown: [], text: [] };
  /** Text for the results file and the console alike. */
  const report = (section: string) => {
    extra.markdown.push(section);
    extra.text.push(section);
  };
  /** A section of the results: a heading, what it shows, its table. */
  const addSection = (heading: string, explanation: string, body: string) => report([heading, '', explanation, '', body].join('\n'));
  const clean = (s: Measured) => s.errors === 0;
  const errorNote = (s: Measured) => (clean(s) ? '' : ` — ${s.errors} failed requests in this scenario, so not met`);

  // ==== (a), (b): closed loop ======================================================================
  if (want('get') || want('create')) {
    const unauthPort = await freePort();
    const unauth = start('unauthenticated-api', 'bench/baselines/unauthenticated-api.ts', {
      PORT: String(unauthPort),
      TEMPORAL_TASK_QUEUE: memory.taskQueue, // served by the same real worker as the API
      BENCH_TENANT_ID: tenantId,
      BENCH_AGENT_ID: agentId,
    });
    const barePort = await freePort();
    const bare = start('bare-get', 'bench/baselines/bare-get.ts', {
      PORT: String(barePort),
      DATABASE_URL: adminDatabaseUrl, // the owner: RLS does not filter, no set_config needed
      BARE_POOL_MAX: '20',
      BENCH_TENANT_ID: tenantId,
    });
    const urls: Record<'authenticated' | 'unauthenticated' | 'bare', string> = {
      authenticated: memory.apiUrl,
      unauthenticated: `http://127.0.0.1:${unauthPort}`,
      bare: `http://127.0.0.1:${barePort}`,
    };
    await Promise.all([waitForHttp(unauth, `${urls.unauthenticated}/readyz`, {}, 60_000), bare.waitForOutput('bare-get listening', 60_000)]);

    // ---- create one ticket, check the three GET endpoints ------------------------------------------
    const createUrl = {
      authenticated: new URL('/api/v1/tickets', urls.authenticated),
      unauthenticated: new URL('/api/v1/tickets', urls.unauthenticated),
    };
    const created = await postJson(agent, createUrl.authenticated, headers, createBody);
    if (!isTicket(created)) throw new Error(`POST /api/v1/tickets answered something that is not a ticket: ${JSON.stringify(created)}`);
    const viaUnauth = await postJson(agent, createUrl.unauthenticated, headers, createBody);
    if (!isTicket(viaUnauth)) throw new Error(`the unauthenticated API's POST /api/v1/tickets answered: ${JSON.stringify(viaUnauth)}`);
    const ticketPath = `/api/v1/tickets/${created.id}`;

    // Authentication and the limiter must be on in the real API, off in the unauthenticated one.
    const anonymous = await get(urls.authenticated + ticketPath, { Accept: 'application/json' });
    if (anonymous.status !== 401) throw new Error(`the API answered HTTP ${anonymous.status} without a credential (expected 401)`);
    const answers = {
      authenticated: await get(urls.authenticated + ticketPath, headers),
      unauthenticated: await get(urls.unauthenticated + ticketPath, headers),
      bare: await get(urls.bare + ticketPath, headers),
    };
    const policy = answers.authenticated.headers.get('ratelimit-policy');
    if (!policy?.includes(`q=${RAISED_LIMIT}`)) throw new Error(`the API's rate limiter is not on with the raised limit (RateLimit-Policy: ${policy})`);
    if (answers.unauthenticated.headers.get('ratelimit-policy') !== null) throw new Error('the unauthenticated API still rate-limits');
    // The baselines must do the same work: same row, same JSON.
    const bodies = Object.fromEntries(SIDES.map((side) => [side, JSON.stringify(json200(`GET ${side}`, answers[side]))]));
    if (bodies.bare !== bodies.authenticated || bodies.unauthenticated !== bodies.authenticated) {
      throw new Error(
        'the GET baselines do not answer what the API answers; update bench/baselines/\n' + SIDES.map((side) => `${side}: ${bodies[side]}`).join('\n'),
      );
    }
    log(`logged in; ticket ${created.id} created; 401 without a credential, RateLimit-Policy ${policy}; all three GET endpoints answer the same body`);

    // ---- the measurements --------------------------------------------------------------------------
    const getOn = (origin: string) => (durationS: number) =>
      measureAutocannon({ url: origin + ticketPath, connections: settings.getConnections, durationS, headers });
    const createOn = (url: URL) => (durationS: number) =>
      measureLoop({
        concurrency: settings.createConcurrency,
        durationMs: durationS * 1000,
        op: async () => {
          await postJson(agent, url, headers, createBody);
        },
      });
    const bareOp = bareUpdateWithStart(memory);
    const measure = {
      get: {
        bare: getOn(urls.bare),
        unauthenticated: getOn(urls.unauthenticated),
        authenticated: getOn(urls.authenticated),
      },
      create: {
        bare: (durationS: number) => measureLoop({ concurrency: settings.createConcurrency, durationMs: durationS * 1000, op: bareOp }),
        unauthenticated: createOn(createUrl.unauthenticated),
        authenticated: createOn(createUrl.authenticated),
      },
    } satisfies Record<'get' | 'create', Record<SideKey, (durationS: number) => Promise<Sample>>>;

    const names: Record<'get' | 'create', Record<SideKey, string>> = {
      get: { bare: 'bare express+pg', unauthenticated: 'api unauthenticated', authenticated: 'api authenticated' },
      create: { bare: 'bare temporal', unauthenticated: 'api unauthenticated', authenticated: 'api authenticated' },
    };
    const ratios = [
      { num: 'authenticated', den: 'bare' },
      { num: 'authenticated', den: 'unauthenticated' },
      { num: 'unauthenticated', den: 'bare' },
    ];
    const keys = (['get', 'create'] as const).filter(want);
    // CPU per GET request by process (the side's server, PostgreSQL, Redis): what separates the sides, split by who pays.
    const cpu = new CpuPerRequest({ bare: bare.child.pid, unauthenticated: unauth.child.pid, authenticated: memory.apiPid }, await databases());
    cleanup.add('CPU sampler', async () => cpu.stop());

    if (settings.warmupS > 0) {
      for (const key of keys) {
        for (const side of SIDES) {
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
        sides: SIDES.map((key) => ({ key, name: names.get[key] })),
        ratios,
        rounds: [],
      },
      create: {
        title: 'POST /api/v1/tickets',
        load: `${settings.createConcurrency} concurrent clients (measureLoop)`,
        sides: SIDES.map((key) => ({ key, name: names.create[key] })),
        ratios,
        rounds: [],
      },
    };

    for (let round = 1; round <= settings.rounds; round++) {
      // Odd rounds: bare → unauthenticated → authenticated; even rounds the reverse, so over an even number of
      // rounds every pair of sides is measured as often in one order as in the other.
      const order: SideKey[] = round % 2 === 1 ? [...SIDES] : [...SIDES].reverse();
      for (const key of keys) {
        const samples: Partial<Record<SideKey, Sample>> = {};
        for (const side of order) {
          const run = () => measure[key][side](settings.durationS);
          const s = key === 'get' ? await cpu.around(side, run) : await run();
          assertAllRunning();
          samples[side] = s;
          log(`round ${round}/${settings.rounds} ${key} ${names[key][side]}: ${fmt(s)}`);
          await sleep(SETTLE_MS);
        }
        comparisons[key].rounds.push({ order, samples: samples as Record<SideKey, Sample> });
      }
    }
    await Promise.all([unauth.stop(), bare.stop()]);
    cpu.stop();
    const cpuTable = want('get') ? cpu.markdown(SIDES.map((key) => ({ key, name: names.get[key] }))) : undefined;
    if (cpuTable) {
      addSection(
        '## GET /api/v1/tickets/:id — CPU per request by process',
        'CPU time (user + system, from /proc, sampled every 0.5 s) of each process over each measurement ÷ its successful requests, median over ' +
          'the rounds. **own process**: that side’s server (with its child processes); **PostgreSQL**: the postmaster and all its backends; ' +
          '**Redis**: the server. Both databases are whole servers, so anything else using them at the time counts as well; the load ' +
          'generator (this process) is not included.',
        cpuTable,
      );
    }

    // ---- verdicts ------------------------------------------------------------------------------------
    const ratioTarget = (s: Measured, label: string, num: SideKey, den: SideKey, min: number): Target => {
      const r = ratioOf(s, num, den);
      return {
        label,
        met: clean(s) && r.value >= min,
        detail: `${pct(r.value)} (${s.medians[num]!.rps.toFixed(0)} vs ${s.medians[den]!.rps.toFixed(0)} req/s)${errorNote(s)}`,
      };
    };
    const auth = (s: Measured) => s.medians.authenticated!;

    if (want('get')) {
      summaries.push(
        summarizeComparison(comparisons.get, (s): Target[] => [
          ratioTarget(s, `#2: authenticated GET at ${settings.getConnections} connections ≥ 60 % of bare Express + pg`, 'authenticated', 'bare', 0.6),
          ratioTarget(s, `#12: authenticated GET at ${settings.getConnections} connections ≥ 75 % of bare Express + pg`, 'authenticated', 'bare', 0.75),
          {
            label: `#2: authenticated GET at ${settings.getConnections} connections p99 < 50 ms`,
            met: clean(s) && auth(s).p99 < 50,
            detail:
              `p99 ${auth(s).p99.toFixed(1)} ms (unauthenticated: ${s.medians.unauthenticated!.p99.toFixed(1)} ms, ` +
              `bare: ${s.medians.bare!.p99.toFixed(1)} ms)${errorNote(s)}`,
          },
          ratioTarget(s, `#3: authenticated GET at ${settings.getConnections} connections ≥ 80 % of unauthenticated`, 'authenticated', 'unauthenticated', 0.8),
        ]),
      );
    }
    if (want('create')) {
      const create = summarizeComparison(comparisons.create, (s): Target[] => [
        {
          label: `#2: authenticated create at ${settings.createConcurrency} concurrent clients p95 < 200 ms`,
          met: clean(s) && auth(s).p95 < 200,
          detail:
            `p95 ${auth(s).p95.toFixed(1)} ms (unauthenticated: ${s.medians.unauthenticated!.p95.toFixed(1)} ms, ` +
            `bare: ${s.medians.bare!.p95.toFixed(1)} ms)${errorNote(s)}`,
        },
        ratioTarget(
          s,
          `#2: authenticated create at ${settings.createConcurrency} concurrent clients ≥ 50 % of bare Temporal update-with-start`,
          'authenticated',
          'bare',
          0.5,
        ),
      ]);
      summaries.push(create);
      log(`create, authenticated / unauthenticated (recorded, no target): ${pct(ratioOf(create, 'authenticated', 'unauthenticated').value)}`);
    }
  }

  /** The #12 write target: p95 < 200 ms and ≤ 1.5× bare update-with-start's p95 at the same rate, no failure. */
  const writeTarget = (label: string, x: Sample, bare: Sample, errors: number): Target => {
    const ratio = x.p95 / bare.p95;
    return {
      label,
      met: errors === 0 && x.p95 < WRITE_P95_MS && ratio <= WRITE_P95_VS_BARE,
      detail:
        `p95 ${ms1(x.p95)} ms vs bare ${ms1(bare.p95)} ms (${ratio.toFixed(2)}×); p50 ${ms1(x.p50)} / p99 ${ms1(x.p99)} ms, ` +
        `${x.late ?? 0} late` +
        (errors ? ` — ${errors} failed or unsent requests, so not met` : ''),
    };
  };

  // ==== (c) open loop: creates and messages at fixed rates ===========================================
  if (want('open')) {
    // Messages go to existing tickets, round-robin over a pool created first (so no ticket's history dominates).
    log(`creating ${settings.messageTickets} tickets for the message scenario…`);
    const pool: string[] = [];
    const createOne = async () => {
      const t = await postJson(agent, new URL('/api/v1/tickets', memory.apiUrl), headers, createBody);
      if (!isTicket(t)) throw new Error(`POST /api/v1/tickets answered: ${JSON.stringify(t)}`);
      pool.push(t.id);
    };
    for (let i = 0; i < settings.messageTickets; i += 10) {
      await Promise.all(Array.from({ length: Math.min(10, settings.messageTickets - i) }, createOne));
    }
    let next = 0;
    // The writes of each side's latest measurement (workflow id and client latency), for the history-phase breakdown:
    // the most recent PHASE_SAMPLE of them, and the slowest TAIL_SHARE (where a p95 goes).
    const written: Record<OpenSide, { id: string; ms: number }[]> = { bare: [], bareRecorded: [], create: [], message: [] };
    const timed = async (side: OpenSide, write: () => Promise<string | undefined>) => {
      const t0 = performance.now();
      const id = await write();
      if (id) written[side].push({ id, ms: performance.now() - t0 });
    };
    const messageOp = () =>
      timed('message', async () => {
        const id = pool[next++ % pool.length]!;
        await postJson(openAgent, new URL(`/api/v1/tickets/${id}/messages`, memory.apiUrl), headers, messageBody);
        return ticketWorkflowId(id);
      });
    const createOp = () =>
      timed('create', async () => {
        const t = await postJson(openAgent, new URL('/api/v1/tickets', memory.apiUrl), headers, createBody);
        return isTicket(t) ? ticketWorkflowId(t.id) : undefined;
      });
    const bareOp = () => timed('bare', () => bareStart(memory));
    const bareRecordedOp = () => timed('bareRecorded', () => bareStart(memory, true));
    const ops: Record<OpenSide, () => Promise<void>> = { bare: bareOp, bareRecorded: bareRecordedOp, create: createOp, message: messageOp };
    const phaseRows: string[] = [];
    // The targets compare with `bare`; `bareRecorded` is recorded beside it: the floor of a write persisted before it answers.
    const openSides: OpenSide[] = ['bare', 'bareRecorded', 'create', 'message'];
    if (settings.warmupS > 0) {
      for (const side of openSides) {
        const s = await openLoopOf(settings.openRates[0]!, settings.warmupS, ops[side]);
        log(`warm-up open ${OPEN_NAMES[side]} at ${settings.openRates[0]}/s: ${fmt(s)}`);
        await sleep(SETTLE_MS);
      }
    }
    for (const rate of settings.openRates) {
      const comparison: Comparison = {
        title: `Open loop at ${rate}/s: create and add a message`,
        load: `${rate} req/s offered for ${settings.durationS} s (measureOpenLoop), ${SERVER_NAMES.memory}, messages over ${pool.length} tickets`,
        sides: openSides.map((key) => ({ key, name: OPEN_NAMES[key] })),
        ratios: [],
        rounds: [],
      };
      for (let round = 1; round <= settings.rounds; round++) {
        const order = round % 2 === 1 ? [...openSides] : [...openSides].reverse();
        const samples: Partial<Record<OpenSide, Sample>> = {};
        for (const side of order) {
          written[side] = [];
          samples[side] = await openLoopOf(rate, settings.durationS, ops[side]);
          log(`round ${round}/${settings.rounds} open ${rate}/s ${OPEN_NAMES[side]}: ${fmt(samples[side]!)}`);
          await sleep(SETTLE_MS);
        }
        comparison.rounds.push({ order, samples: samples as Record<OpenSide, Sample> });
      }
      for (const side of openSides) {
        const writes = written[side];
        const slowest = [...writes].sort((a, b) => b.ms - a.ms).slice(0, Math.max(4, Math.round(writes.length * TAIL_SHARE)));
        const groups = [
          { label: `last ${PHASE_SAMPLE}`, sample: writes.slice(-PHASE_SAMPLE) },
          { label: `slowest ${slowest.length}`, sample: slowest },
        ];
        for (const { label, sample } of groups) {
          const p = await historyPhases(
            memory.client,
            sample.map((w) => w.id),
            { lastUpdate: side === 'message' },
          );
          const clientMs = percentile(Float64Array.from(sample.map((w) => w.ms)).sort(), 50);
          phaseRows.push(
            `| ${rate}/s | ${OPEN_NAMES[side]} | ${label} | ${p.tasks} | ${p.scheduleToStart.toFixed(0)} | ${p.startToComplete.toFixed(0)} | ` +
              `${p.serverTotal.toFixed(0)} | ${clientMs.toFixed(0)} | ${(clientMs - p.serverTotal).toFixed(0)} |`,
          );
        }
      }
      summaries.push(
        summarizeComparison(comparison, (s) =>
          (['create', 'message'] as const).map((side) =>
            writeTarget(
              `#12: ${OPEN_NAMES[side]} at ${rate}/s (open loop) p95 < ${WRITE_P95_MS} ms and ≤ ${WRITE_P95_VS_BARE}× bare update-with-start's p95`,
              s.medians[side]!,
              s.medians.bare!,
              s.medians[side]!.errors,
            ),
          ),
        ),
      );
    }
    const phases = [
      "## Where a write's time goes (open loop, from the workflows' histories)",
      '',
      `The last round of each rate, two groups of each side's writes read back from their workflows' histories (server ` +
        `timestamps; \`bench/lib/history-phases.ts\`): the last ${PHASE_SAMPLE}, and the slowest ${TAIL_SHARE * 100} % by client ` +
        "latency (where the p95 lives); medians within each group. **tasks**: workflow tasks from the write's arrival to " +
        'its update completing; **schedule→start**: a task waiting for a worker poll; **start→complete**: the task on the ' +
        "worker (workflow code and its local activities, e.g. the projection's statement); **server total**: arrival " +
        "(the start, or the task carrying the update) to the update completed; **client**: the group's median client " +
        "latency; **client − server**: the API's own work, the RPCs and the answer travelling back.",
      '',
      '| rate | side | writes | tasks | schedule→start ms | start→complete ms | server total ms | client ms | client − server ms |',
      '|---|---|---|---|---|---|---|---|---|',
      ...phaseRows,
    ].join('\n');
    report(phases);
  }

  /**
   * The authenticated GET and the closed-loop create against two sides that differ only in what is observed, alternating
   * their order by round; target: `on` ≥ 90 % of `off` (issue #13).
   */
  const observedVsNot = async (
    what: string,
    sideNames: { on: string; off: string },
    sideUrl: { on: string; off: string },
    sidePid: { on: number | undefined; off: number | undefined },
  ) => {
    // The API's own CPU per GET on each side: what observing costs, apart from the machine's noise in req/s.
    const cpu = new CpuPerRequest(sidePid, await databases());
    cleanup.add(`CPU sampler (${what})`, async () => cpu.stop());
    const ticket = await postJson(agent, new URL('/api/v1/tickets', sideUrl.on), headers, createBody);
    if (!isTicket(ticket)) throw new Error(`POST /api/v1/tickets answered: ${JSON.stringify(ticket)}`);
    const sides = ['on', 'off'] as const;
    const measureSide = {
      get: (side: (typeof sides)[number]) => (durationS: number) =>
        measureAutocannon({ url: `${sideUrl[side]}/api/v1/tickets/${ticket.id}`, connections: settings.getConnections, durationS, headers }),
      create: (side: (typeof sides)[number]) => (durationS: number) =>
        measureLoop({
          concurrency: settings.createConcurrency,
          durationMs: durationS * 1000,
          op: async () => {
            await postJson(agent, new URL('/api/v1/tickets', sideUrl[side]), headers, createBody);
          },
        }),
    };
    for (const key of ['get', 'create'] as const) {
      const comparison: Comparison = {
        title: `${key === 'get' ? 'GET /api/v1/tickets/:id' : 'POST /api/v1/tickets'}: ${what} on and off`,
        load: key === 'get' ? `${settings.getConnections} connections (autocannon)` : `${settings.createConcurrency} concurrent clients (measureLoop)`,
        sides: sides.map((k) => ({ key: k, name: sideNames[k] })),
        ratios: [{ num: 'on', den: 'off' }],
        rounds: [],
      };
      for (const side of sides) {
        if (settings.warmupS > 0) log(`warm-up ${what} ${key} ${sideNames[side]}: ${fmt(await measureSide[key](side)(settings.warmupS))}`);
      }
      for (let round = 1; round <= settings.rounds; round++) {
        const order = round % 2 === 1 ? [...sides] : [...sides].reverse();
        const samples: Record<string, Sample> = {};
        for (const side of order) {
          const run = () => measureSide[key](side)(settings.durationS);
          samples[side] = key === 'get' ? await cpu.around(side, run) : await run();
          assertAllRunning();
          log(`round ${round}/${settings.rounds} ${what} ${key} ${sideNames[side]}: ${fmt(samples[side]!)}`);
          await sleep(SETTLE_MS);
        }
        comparison.rounds.push({ order, samples });
      }
      summaries.push(
        summarizeComparison(comparison, (s): Target[] => {
          const r = ratioOf(s, 'on', 'off');
          return [
            {
              label: `#13: ${key === 'get' ? 'authenticated GET' : 'create'} with ${what} on ≥ 90 % of the same with them off`,
              met: clean(s) && r.value >= 0.9,
              detail: `${pct(r.value)} (${s.medians.on!.rps.toFixed(0)} vs ${s.medians.off!.rps.toFixed(0)} req/s; p95 ${s.medians.on!.p95.toFixed(1)} vs ${s.medians.off!.p95.toFixed(1)} ms)${errorNote(s)}`,
            },
          ];
        }),
      );
    }
    cpu.stop();
    const cpuTable = cpu.markdown(sides.map((key) => ({ key, name: sideNames[key] })));
    if (cpuTable) {
      addSection(
        `## GET /api/v1/tickets/:id: ${what} on and off — CPU per request by process`,
        'CPU time (user + system, /proc, every 0.5 s) of each process over each GET measurement ÷ its successful requests, median over ' +
          'the rounds (as in the GET scenario’s table). The API’s own µs per request is what observing costs apart from how the ' +
          'machine’s other processes happened to share the cores during each measurement.',
        cpuTable,
      );
    }
  };

  // ==== (f) the cost of the API's metrics (issue #13) ================================================
  if (want('metrics')) {
    const offPort = await freePort();
    const off = start('api-metrics-off', 'api/main.ts', {
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_TASK_QUEUE: memory.taskQueue,
      PORT: String(offPort),
      API_METRICS_ADDRESS: '',
    });
    const offUrl = `http://127.0.0.1:${offPort}`;
    await waitForHttp(off, `${offUrl}/readyz`, {}, 60_000);
    await observedVsNot(
      "the API's metrics",
      { on: 'api, metrics on', off: 'api, metrics off' },
      { on: memory.apiUrl, off: offUrl },
      { on: memory.apiPid, off: off.child.pid },
    );
    await off.stop();
  }

  // ==== (g) the cost of tracing (10 % sampled) with metrics, against neither (issue #13) ===========
  if (want('tracing')) {
    // Spans go over OTLP/HTTP to a sink in this process that reads and drops them (what a collector costs is not ours).
    let exported = 0;
    const sink = http.createServer((req, res) => {
      req.on('data', (c: Buffer) => (exported += c.length));
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end());
    });
    await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
    cleanup.add('OTLP sink', () => new Promise<void>((resolve) => sink.close(() => resolve())));
    const sinkUrl = `http://127.0.0.1:${(sink.address() as { port: number }).port}/v1/traces`;
    const traced = {
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: sinkUrl,
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.1',
    };
    const plain = { API_METRICS_ADDRESS: '', WORKER_METRICS_ADDRESS: '' };
    // Each side a fresh worker and API on a task queue of its own (a worker's cost grows with the workflows it holds:
    // neither side may inherit the earlier scenarios' tickets).
    const sideUrl = { on: '', off: '' };
    const sidePid: { on: number | undefined; off: number | undefined } = { on: undefined, off: undefined };
    const services = [];
    for (const [side, extraEnv] of [
      ['on', traced],
      ['off', plain],
    ] as const) {
      const onServer = { TEMPORAL_ADDRESS: temporal.address, TEMPORAL_TASK_QUEUE: `bench-tickets-tracing-${side}-${runId}` };
      const worker = start(`worker-tracing-${side}`, 'workers/main.ts', { ...onServer, ...extraEnv });
      const port = await freePort();
      const api = start(`api-tracing-${side}`, 'api/main.ts', { ...onServer, ...extraEnv, PORT: String(port) });
      sideUrl[side] = `http://127.0.0.1:${port}`;
      sidePid[side] = api.child.pid;
      await Promise.all([worker.waitForOutput(WORKER_READY, 90_000), waitForHttp(api, `${sideUrl[side]}/readyz`, {}, 90_000)]);
      services.push(worker, api);
    }
    await observedVsNot('tracing (10 % sampled) and metrics', { on: 'traced 10 %, metrics on', off: 'neither' }, sideUrl, sidePid);
    log(`tracing: ${(exported / 1024).toFixed(0)} KiB of spans exported`);
    await Promise.all(services.map((s) => s.stop()));
  }

  // ==== (d) saturation: creates stepped up, in-memory and SQLite-file dev servers ===================
  if (want('saturation')) {
    for (const kind of settings.saturationServers) {
      let stack = memory;
      let dataDir: string | undefined;
      if (kind === 'file') {
        dataDir = mkdtempSync(path.join(tmpdir(), 'deskflow-bench-temporal-'));
        const dir = dataDir;
        cleanup.add(`directory ${dir}`, async () => rmSync(dir, { recursive: true, force: true }));
        log(`starting a dev server as npm start does (SQLite file in ${dataDir}), its worker, trivial worker and API…`);
        const server = await must('Temporal dev server (file)', async () =>
          startTemporalDevServer(
            npmStartDevServerOptions({ dataDir: dir, port: await freePort(), uiPort: await freePort(), namespace: base.TEMPORAL_NAMESPACE }),
          ),
        );
        cleanup.add('Temporal dev server (file)', () => server.stop());
        stack = await startTemporalStack('file', server, '-file', true);
      }
      const ops = { bare: bareUpdateWithStart(stack), create: createVia(stack.apiUrl) };
      const satSides = ['bare', 'create'] as const;
      // What each process spends per request at each step: where the machine's two cores go as the rate rises.
      const cpuTargets = [...stack.processes, ...(await databases())];
      const cpu = ProcSampler.available() ? new ProcSampler(cpuTargets, 500) : undefined;
      cpu?.start();
      cleanup.add(`CPU sampler (saturation, ${kind})`, async () => cpu?.stop()); // should a step throw
      // phase → requests answered in it, and this process's own CPU (the load generator's) over it, µs
      const answered = new Map<string, { rate: number; side: 'bare' | 'create'; ok: number; selfUs: number }>();
      const measured = async (rate: number, side: 'bare' | 'create'): Promise<Sample> => {
        const phase = `${rate}:${side}`;
        cpu?.setPhase(phase);
        const self = process.cpuUsage();
        const s = await openLoopOf(rate, settings.durationS, ops[side]);
        const { user, system } = process.cpuUsage(self);
        cpu?.setPhase('between');
        const seen = answered.get(phase) ?? { rate, side, ok: 0, selfUs: 0 };
        answered.set(phase, { ...seen, ok: seen.ok + s.ok, selfUs: seen.selfUs + user + system });
        return s;
      };
      if (settings.warmupS > 0) {
        for (const side of satSides) {
          const s = await openLoopOf(settings.saturationStart, settings.warmupS, ops[side]);
          log(`warm-up saturation ${kind} ${OPEN_NAMES[side]} at ${settings.saturationStart}/s: ${fmt(s)}`);
          await sleep(SETTLE_MS);
        }
      }
      const steps: { rate: number; bare: Sample; create: Sample; saturated: string | undefined }[] = [];
      // Served: a round's answers over its schedule plus the p99's latency. Not over the wall time to the last answer,
      // which one straggler (a 2.1 s answer, seen at 60/s) stretches as much as a backlog would.
      const servedOf = (x: Sample) => x.ok / settings.rounds / (settings.durationS + x.p99 / 1000);
      const saturatedBy = (x: Sample, rate: number) =>
        x.errors > 0
          ? `${x.errors} failed or unsent`
          : x.p95 > settings.saturationP95Ms
            ? `p95 ${ms1(x.p95)} ms > ${settings.saturationP95Ms} ms`
            : servedOf(x) < 0.9 * rate
              ? `served ${servedOf(x).toFixed(1)}/s < 90 % of offered`
              : undefined;
      for (let rate = settings.saturationStart; rate <= settings.saturationMax; rate += settings.saturationStep) {
        const rounds: Record<'bare' | 'create', Sample[]> = { bare: [], create: [] };
        for (let round = 1; round <= settings.rounds; round++) {
          const order = round % 2 === 1 ? [...satSides] : [...satSides].reverse();
          for (const side of order) {
            const s = await measured(rate, side);
            rounds[side].push(s);
            log(`round ${round}/${settings.rounds} saturation ${kind} ${rate}/s ${OPEN_NAMES[side]}: ${fmt(s)}`);
            await sleep(SETTLE_MS);
          }
        }
        const step = { rate, bare: medianSample(rounds.bare), create: medianSample(rounds.create), saturated: undefined as string | undefined };
        step.saturated = saturatedBy(step.create, rate);
        steps.push(step);
        // The targets are judged at 20/s and 40/s: both are measured even past saturation.
        if (step.saturated && rate >= 40) {
          log(`saturation ${kind}: creates at ${rate}/s: ${step.saturated}; stepping bare update-with-start alone from here`);
          break;
        }
        // A queue left behind by this step would be measured by the next one.
        await sleep(2 * SETTLE_MS);
      }
      // Then the bare side alone, on up: where Temporal itself (this dev server and a worker that does nothing) stops
      // keeping up on this machine is the ceiling of any write that is a Workflow Update here, ours included.
      const bareSteps: { rate: number; bare: Sample; saturated: string | undefined }[] = steps.map((x) => ({
        rate: x.rate,
        bare: x.bare,
        saturated: saturatedBy(x.bare, x.rate),
      }));
      for (
        let rate = (steps.at(-1)?.rate ?? 0) + settings.saturationStep;
        !bareSteps.at(-1)?.saturated && rate <= settings.saturationMax;
        rate += settings.saturationStep
      ) {
        await sleep(2 * SETTLE_MS);
        const rounds: Sample[] = [];
        for (let round = 1; round <= settings.rounds; round++) {
          const s = await measured(rate, 'bare');
          rounds.push(s);
          log(`round ${round}/${settings.rounds} saturation ${kind} ${rate}/s ${OPEN_NAMES.bare}: ${fmt(s)}`);
          await sleep(SETTLE_MS);
        }
        const bare = medianSample(rounds);
        bareSteps.push({ rate, bare, saturated: saturatedBy(bare, rate) });
      }
      cpu?.stop();
      if (kind === 'file') await stack.stop();
      const cpuHead = ['offered /s', 'side', ...cpuTargets.map((t) => `${t.name} ms`), 'load generator ms', 'sum ms', 'all, % of a core'];
      const cpuRows = [...answered].flatMap(([phase, { rate, side, ok, selfUs }]) => {
        const used = cpuTargets.map((t) => cpu?.summary(t.name, phase));
        if (ok === 0 || used.some((u) => !u)) return [];
        const seconds = used[0]!.seconds;
        const msOf = [...used.map((u) => (u!.cpuSeconds * 1000) / ok), selfUs / 1000 / ok];
        const pct = used.reduce((sum, u) => sum + u!.avgCpuPct, 0) + (seconds > 0 ? selfUs / 1e4 / seconds : 0);
        return [[String(rate), OPEN_NAMES[side], ...msOf.map((v) => v.toFixed(1)), msOf.reduce((a, b) => a + b, 0).toFixed(1), pct.toFixed(0)]];
      });

      const saturationLine = (what: string, stepped: readonly { rate: number; saturated: string | undefined }[]) => {
        const first = stepped.findIndex((x) => x.saturated);
        const served = (first < 0 ? stepped : stepped.slice(0, first)).at(-1);
        return (
          `${what} on the ${SERVER_NAMES[kind]}: highest rate served with p95 ≤ ${settings.saturationP95Ms} ms, no failure: ` +
          (served ? `${served.rate}/s` : `none (from ${settings.saturationStart}/s)`) +
          (first >= 0 ? `; at ${stepped[first]!.rate}/s ${stepped[first]!.saturated}` : `; not saturated up to ${stepped.at(-1)?.rate}/s`)
        );
      };
      const satLine = saturationLine('creates', steps);
      const bareLine = saturationLine('bare update-with-start', bareSteps);
      log(satLine);
      log(bareLine);
      const stepAt = (rate: number) => steps.find((x) => x.rate === rate);
      const at20 = stepAt(20);
      const at40 = stepAt(40);
      const notMeasured = (label: string, rate: number): Target => ({
        label,
        met: false,
        detail: `not measured: the steps (${steps.map((x) => x.rate).join(', ')}/s) did not include ${rate}/s`,
      });
      const label20 = `#12: creates at 20/s on the ${SERVER_NAMES[kind]} (open loop) p95 < ${WRITE_P95_MS} ms`;
      const label40 = `#12: creates at 40/s on the ${SERVER_NAMES[kind]} (open loop) p95 ≤ ${WRITE_P95_VS_BARE}× bare update-with-start's p95 at 40/s`;
      extra.targets.push(
        at20
          ? {
              label: label20,
              met: at20.create.errors === 0 && at20.create.p95 < WRITE_P95_MS,
              detail: `p95 ${ms1(at20.create.p95)} ms (bare ${ms1(at20.bare.p95)} ms)${at20.create.errors ? ` — ${at20.create.errors} failed or unsent` : ''}`,
            }
          : notMeasured(label20, 20),
        at40
          ? {
              label: label40,
              met: at40.create.errors === 0 && at40.create.p95 <= WRITE_P95_VS_BARE * at40.bare.p95,
              detail:
                `p95 ${ms1(at40.create.p95)} ms vs bare ${ms1(at40.bare.p95)} ms (${(at40.create.p95 / at40.bare.p95).toFixed(2)}×)` +
                (at40.create.errors ? ` — ${at40.create.errors} failed or unsent` : ''),
            }
          : notMeasured(label40, 40),
        { label: `#12: saturation, ${SERVER_NAMES[kind]} (recorded, no target)`, met: true, detail: satLine },
        { label: `#12: bare update-with-start's saturation, ${SERVER_NAMES[kind]} (recorded, no target)`, met: true, detail: bareLine },
      );
      const head = ['offered /s', 'side', 'served /s', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'ok', 'errors', 'late', 'p95 / bare'];
      const rowOf = (rate: number, side: 'bare' | 'create', x: Sample, saturated: string | undefined, vsBare = '') => [
        String(rate),
        OPEN_NAMES[side] + (saturated ? ` (${saturated})` : ''),
        servedOf(x).toFixed(1),
        ms1(x.p50),
        ms1(x.p95),
        ms1(x.p99),
        ms1(x.max),
        String(x.ok),
        String(x.errors),
        String(x.late ?? 0),
        vsBare,
      ];
      const rowsOf = [
        ...steps.flatMap((x, i) => [
          rowOf(x.rate, 'bare', x.bare, bareSteps[i]!.saturated),
          rowOf(x.rate, 'create', x.create, x.saturated, `${(x.create.p95 / x.bare.p95).toFixed(2)}×`),
        ]),
        ...bareSteps.slice(steps.length).map((x) => rowOf(x.rate, 'bare', x.bare, x.saturated)),
      ];
      extra.markdown.push(
        `## Saturation: open-loop creates on the ${SERVER_NAMES[kind]} — ${settings.durationS} s per step and side, medians over ${settings.rounds} round(s)\n\n` +
          `Past the rate where creates saturate, bare update-with-start is stepped on alone. Served: a round's answers over ` +
          `its ${settings.durationS} s schedule plus the p99 latency. A step is saturated at its first failure, at p95 over ` +
          `${settings.saturationP95Ms} ms, or when less than 90 % of the offered rate is served.\n\n` +
          `${table(head, rowsOf, 2)}\n\n${satLine}.\n\n${bareLine}.` +
          (cpuRows.length
            ? `\n\nCPU per answered request by process at each step (/proc every 0.5 s: each process with its children, ` +
              `so PostgreSQL is the postmaster and every backend; all rounds of the step; the load generator is this ` +
              `process's own CPU, from process.cpuUsage()). Whatever a process spends during a step counts, its idle work too, so the side ` +
              `not being driven (the trivial worker during creates, the real worker and API during bare) shows its floor.\n\n` +
              table(cpuHead, cpuRows, 2)
            : ''),
      );
      extra.text.push(`\n== Saturation, ${SERVER_NAMES[kind]}`, textTable([head, ...rowsOf]), satLine, bareLine);
      if (cpuRows.length) extra.text.push('CPU ms per answered request by process:', textTable([cpuHead, ...cpuRows]));
    }
  }

  // ==== (e) start-up: creates right after /readyz on a fresh npm start-like stack ======================
  if (want('startup')) {
    const comparison: Comparison = {
      title: `Start-up: creates in the first ${settings.startupS} s after /readyz`,
      load: `${settings.startupRate} req/s offered (measureOpenLoop) from the first 200 of /readyz, fresh ${SERVER_NAMES.file}, worker and API`,
      sides: [
        { key: 'first', name: `creates, first ${settings.startupS} s` },
        { key: 'then', name: `creates, next ${settings.startupS} s` },
      ],
      ratios: [],
      rounds: [],
    };
    const readyAfter: number[] = [];
    const windows: number[][] = [];
    const windowS = 5;
    for (let round = 1; round <= settings.rounds; round++) {
      const dir = mkdtempSync(path.join(tmpdir(), 'deskflow-bench-startup-'));
      cleanup.add(`directory ${dir}`, async () => rmSync(dir, { recursive: true, force: true }));
      const server = await must('Temporal dev server (start-up)', async () =>
        startTemporalDevServer(
          npmStartDevServerOptions({ dataDir: dir, port: await freePort(), uiPort: await freePort(), namespace: base.TEMPORAL_NAMESPACE }),
        ),
      );
      cleanup.add(`Temporal dev server (start-up ${round})`, () => server.stop());
      // As npm start: once its dev server answers, the worker and the API are started together.
      const onServer = { TEMPORAL_ADDRESS: server.address, TEMPORAL_TASK_QUEUE: `bench-startup-${round}-${runId}` };
      const t0 = Date.now();
      const worker = start(`worker-startup-${round}`, 'workers/main.ts', onServer);
      const port = await freePort();
      const api = start(`api-startup-${round}`, 'api/main.ts', { ...onServer, PORT: String(port) });
      const apiUrl = `http://127.0.0.1:${port}`;
      await waitForHttp(api, `${apiUrl}/readyz`, {}, 120_000);
      readyAfter.push((Date.now() - t0) / 1000);
      const points: { scheduledAt: number; ms: number }[] = [];
      const began = Date.now();
      const createOp = createVia(apiUrl);
      const first = await measureOpenLoop({
        rate: settings.startupRate,
        durationS: settings.startupS,
        maxInFlight: OPEN_MAX_IN_FLIGHT,
        op: createOp,
        health: assertAllRunning,
        record: (scheduledAt, ms) => points.push({ scheduledAt, ms }),
      });
      // The same load right after, on the now warm stack: what the first seconds are compared with.
      const then = await openLoopOf(settings.startupRate, settings.startupS, createOp);
      const perWindow = Array.from({ length: Math.ceil(settings.startupS / windowS) }, (_, i) => windowP95(points, began, i * windowS, (i + 1) * windowS));
      windows.push(perWindow);
      log(
        `round ${round}/${settings.rounds} start-up: /readyz 200 after ${readyAfter.at(-1)!.toFixed(1)} s; first ${settings.startupS} s: ${fmt(first)}; ` +
          `p95 per ${windowS} s: ${perWindow.map(ms1).join(', ')} ms; next ${settings.startupS} s: ${fmt(then)}`,
      );
      if (first.errors || then.errors) {
        // What the API logged about the failures (its errors are level 50 in pino's JSON).
        const logged = api
          .output()
          .split('\n')
          .filter((line) => line.includes('"level":50'));
        log(`the API's error log (last ${Math.min(3, logged.length)} of ${logged.length}):\n${logged.slice(-3).join('\n')}`);
      }
      comparison.rounds.push({ order: ['first', 'then'], samples: { first, then } });
      await Promise.all([api.stop(), worker.stop()]);
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
    summaries.push(
      summarizeComparison(comparison, (s) => [
        {
          label: `#12: creates at ${settings.startupRate}/s in the first ${settings.startupS} s after /readyz says ready (fresh npm start-like stack) p95 < ${WRITE_P95_MS} ms`,
          met: s.medians.first!.errors === 0 && s.medians.first!.p95 < WRITE_P95_MS,
          detail:
            `p95 ${ms1(s.medians.first!.p95)} ms, p99 ${ms1(s.medians.first!.p99)} ms; the next ${settings.startupS} s: p95 ${ms1(s.medians.then!.p95)} ms` +
            (s.medians.first!.errors ? ` — ${s.medians.first!.errors} failed or unsent, so not met` : ''),
        },
      ]),
    );
    const windowMedians = windows[0]!.map((_, i) => median(windows.map((w) => w[i]!)));
    const line =
      `Start-up: /readyz answered 200 after ${readyAfter.map((x) => x.toFixed(1)).join(', ')} s (per round) from starting the worker and the API; ` +
      `creates' p95 per ${windowS} s after that (median over rounds): ${windowMedians.map((v, i) => `${i * windowS}–${(i + 1) * windowS} s ${ms1(v)} ms`).join(', ')}.`;
    log(line);
    report(line);
  }

  // ---- table, RESULTS.md -------------------------------------------------------------------------
  const method = [
    `Scenarios run: ${[...settings.scenarios].join(', ')} (BENCH_SCENARIOS). ` +
      'One run, one machine, loopback only. `bench/run.ts` starts a Temporal dev server (in memory, headless), a scratch ' +
      'PostgreSQL database migrated as the owner (DATABASE_ADMIN_URL), a Redis key prefix, one real worker process ' +
      '(`workers/main.ts`), the real API process (`api/main.ts`), the unauthenticated API process and the baselines; all are ' +
      'removed at the end. Both API processes and the worker run with NODE_ENV=production, LOG_LEVEL=warn, DATABASE_POOL_MAX=20, ' +
      'connected as the least-privilege role of DATABASE_URL (deskflow_app, row-level security on), with field-encryption keys ' +
      'generated for the run. The load generators run inside the bench process. ' +
      BENCH_RUNTIME_NOTE,
    'Data: one tenant, one agent user and one customer (email encrypted) inserted with the owner’s pool through `userStore` / ' +
      '`customerStore` (as `createTenant` in test/support/stack.ts); the agent logs in over HTTP (POST /api/v1/auth/login) and ' +
      `its access JWT (ACCESS_TOKEN_TTL=${accessTokenTtlS}s, longer than the run) is sent as \`Authorization: Bearer\` by every ` +
      'request of every side (the baselines ignore it, so all sides receive identical requests).',
    'Sides. **api authenticated**: the real API; every request is verified (ES256 JWT + session/revocation lookup in Redis) and ' +
      `rate-limited per credential in Redis with RATE_LIMIT_PER_MIN=${RAISED_LIMIT} (and LOGIN_ATTEMPTS_* the same), so the ` +
      'limiter runs on every request but never refuses (checked before measuring: 401 without a credential, RateLimit-Policy ' +
      'with the raised quota). **api unauthenticated**: `bench/baselines/unauthenticated-api.ts`, the same app as `createApp` ' +
      '(helmet, cors, JSON parser, request ids, routes, stores with the RLS `set_config`, workflows, idempotency, scope check, ' +
      'problem handler) with the `authenticate` route middleware (identity + rate limit) replaced by one that sets a fixed identity ' +
      '(the bench tenant, the agent, the agent role’s scopes) and a pass-through: the authenticated / unauthenticated ratio is ' +
      'the cost of the auth + limiter stack (issue #3).',
    `(a) GET: autocannon, ${settings.getConnections} keep-alive connections, no pipelining, one ticket (created through the API) ` +
      'read over and over. Baseline **bare express+pg** (`bench/baselines/bare-get.ts`): a bare Express 5 app and a pg Pool ' +
      '(max 20) running the same SELECT as `ticketStore.get` for the run’s tenant and answering `res.json(row)`. It is the ' +
      'floor and deliberately barer than the API: it connects as the owner, which row-level security does not filter, and runs ' +
      'the one SELECT with `pool.query`, whereas the API (both variants) checks a client out and runs the SELECT as ' +
      "deskflow_app under RLS, preceded in the same round trip by a transaction-local `set_config('app.tenant_id', $1, true)`. All three answer the same " +
      'body (checked before measuring). Latency: autocannon’s per-response time.',
    `(b) create: \`measureLoop\`, ${settings.createConcurrency} concurrent async clients each doing one request at a time until the ` +
      'duration is over (requests in flight then finish and count); latency via process.hrtime around each call. Baseline ' +
      '**bare temporal**: the Temporal client’s `executeUpdateWithStart` of a trivial workflow (`bench/baselines/trivial-workflows.ts`: ' +
      'its update handler returns at once, and the run then stays open as a ticket’s does) with a fresh workflow id and USE_EXISTING, on its own task queue and worker process ' +
      '(`bench/baselines/trivial-worker.ts`, same workflow-task settings and Worker shards as the real worker). API sides: POST /api/v1/tickets over ' +
      'keep-alive HTTP, a new ticket each time (no Idempotency-Key), both API processes served by the same real worker.',
    '(c) open loop (`measureOpenLoop` in bench/lib/load.ts): requests are started on a fixed schedule (1000/rate ms apart) for the ' +
      'duration whatever the answers take, and each latency runs from the scheduled time, so waiting behind a slow server (or a ' +
      `late generator) is counted. **late** = sent ≥ ${LATE_MS} ms behind schedule or not sent at all (more than ${OPEN_MAX_IN_FLIGHT} in flight); ` +
      'errors = failed + not sent; req/s = the rate served (successful requests ÷ time from the first scheduled request to the last ' +
      'answer). Sides, each alone on the in-memory dev server at each rate of BENCH_OPEN_RATES, order alternating per round: **bare ' +
      'update-with-start** (the baseline of (b)), **bare update-with-start + one local INSERT** (the same trivial workflow, whose ' +
      '`recordedPing` update first runs one local activity doing one INSERT, as the owner, with the ticket workflow’s local-activity ' +
      'options: the floor of a write persisted before it answers, which every ticket write is; recorded, no target), ' +
      '**POST /tickets** (a new ticket each time), **POST /tickets/:id/messages** (a public ' +
      `reply, round-robin over BENCH_MESSAGE_TICKETS tickets created through the API just before). Target (issue #12): p95 < ${WRITE_P95_MS} ms ` +
      `and ≤ ${WRITE_P95_VS_BARE}× bare update-with-start’s p95 at the same rate, with no failed request.`,
    '(d) saturation: open-loop creates and bare update-with-start stepped from BENCH_SATURATION_START by BENCH_SATURATION_STEP per ' +
      'second (each step: every round measures both sides, medians over rounds) until the creates’ p95 exceeds BENCH_SATURATION_P95_MS, ' +
      'a request fails or is not sent, or less than 90 % of the offered rate is served (answers over the schedule plus the p99 latency), ' +
      'and from there bare update-with-start alone until it saturates by the same rule (its ceiling: no target). Once on the in-memory dev server (the same ' +
      'stack as (a)–(c)) and once on a dev server started by `npmStartDevServerOptions` (platform/temporal-dev-server.ts), the very ' +
      'options `npm start` uses: a SQLite file (WAL, synchronous=normal) in a scratch directory, UI on, its own worker, trivial worker ' +
      'and API; one tenant. Targets (issue #12): creates at 20/s p95 < 200 ms; at 40/s p95 ≤ 1.5× bare update-with-start’s at 40/s on the same server.',
    `(e) start-up: per round, a fresh dev server as \`npm start\` starts it (its own scratch directory), then the worker and the API ` +
      'started together (as npm start’s supervisor does), /readyz polled every 200 ms; from its first 200, creates at BENCH_STARTUP_RATE ' +
      'for BENCH_STARTUP_S seconds, open loop, then the same for another BENCH_STARTUP_S seconds (the warm stack, for comparison). ' +
      'Reported: seconds from starting the processes to /readyz 200, both periods’ figures, and the first period’s p95 per 5 s ' +
      'window (by scheduled time). Target (issue #12): the first period’s p95 < 200 ms.',
    `Warm-up: ${settings.warmupS} s per side and scenario before round 1, not recorded. Each round measures the three sides for ` +
      `${settings.durationS} s each, odd rounds in the order bare → unauthenticated → authenticated, even rounds in the reverse order.`,
    'req/s = successful requests ÷ wall time of the measurement; percentiles are nearest-rank over every successful request of a ' +
      'measurement; each reported figure is the median of that figure over the rounds; a ratio = median req/s of one side ÷ median ' +
      'req/s of the other; in the median rows, ok and errors are totals over the rounds. Any failed request (error, timeout, ' +
      'non-2xx) in a scenario marks its targets not met. Targets: issue #2 (authenticated vs bare) and issue #3 (authenticated vs ' +
      'unauthenticated GET); the create authenticated / unauthenticated ratio is recorded without a target. The whole machine is ' +
      'shared by the load generator, the services and the Temporal dev server, so compare ratios from one run rather than ' +
      'absolute figures across runs.',
  ];

  const text = formatText(summaries, extra);
  console.log(text);
  // A partial run (BENCH_SCENARIOS) must not replace the recorded figures of the scenarios it did not run.
  const partial = settings.scenarios.size < SCENARIOS.length;
  if (partial && !process.env.BENCH_RESULTS_FILE) {
    log(`a partial run (BENCH_SCENARIOS): bench/RESULTS.md left as it was (BENCH_RESULTS_FILE writes the block elsewhere)`);
  } else {
    writeResults(RESULTS_FILE, formatMarkdown(machine, settings, summaries, method, loadAverage(), extra));
    const written = process.env.BENCH_RESULTS_FILE || RESULTS_FILE;
    log(`results written to ${path.relative(process.cwd(), written) || written}`);
  }

  const missed = [...summaries.flatMap((s) => s.targets), ...extra.targets].filter((t) => !t.met);
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
