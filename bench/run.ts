/**
 * `npm run bench`: Deskflow against bare baselines and against itself without authentication, measured in
 * one run on this machine, loopback only. Two scenarios, three sides each:
 *
 *  (a) GET /api/v1/tickets/:id — bare Express 5 + pg running the same SELECT (bench/baselines/bare-get.ts),
 *      the API without auth / rate limit (bench/baselines/unauthenticated-api.ts), the real API (api/main.ts)
 *      with an access JWT and the Redis rate limiter on (limits raised so it never refuses);
 *  (b) POST /api/v1/tickets — a bare loop of Temporal update-with-start on a trivial workflow, the
 *      unauthenticated API, the authenticated API (both with the real worker).
 *
 * Starts everything it needs (Temporal dev server in memory, a scratch database, a Redis key prefix, the worker,
 * both API processes and the baselines), seeds a tenant, an agent and a customer, logs the agent in, runs
 * warm-up then BENCH_ROUNDS rounds alternating the order of the sides, prints the table, rewrites the
 * generated block of bench/RESULTS.md, and cleans up even when a step fails.
 *
 * Env: BENCH_ROUNDS (3), BENCH_DURATION seconds per measurement (10), BENCH_WARMUP seconds (3),
 *      BENCH_GET_CONNECTIONS (50), BENCH_CREATE_CONCURRENCY (20), BENCH_STRICT=1 (exit 1 when a target is missed),
 *      BENCH_SCENARIOS (comma-separated of get, create; default both: a partial run leaves bench/RESULTS.md as it
 *      was), BENCH_RESULTS_FILE (write the generated block to that file instead of bench/RESULTS.md),
 *      BENCH_BASE_ROOT (another checkout, with its node_modules, e.g. a `git worktree` of the commit before a change:
 *      its authenticated API joins the GET scenario as a fourth side, so before and after are measured in one run),
 *      plus DATABASE_URL (the application role, deskflow_app) / DATABASE_ADMIN_URL (the owner) / REDIS_URL to
 *      point at other PostgreSQL / Redis servers (their database names are replaced by the scratch database).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection, WithStartWorkflowOperation } from '@temporalio/client';
import pg from 'pg';
import { customerStore } from '../stores/customers';
import { userStore } from '../stores/users';
import { loadConfig } from '../platform/config';
import { dropDatabase } from '../platform/db';
import { createFieldCrypto } from '../platform/field-crypto';
import { startTemporalDevServer } from '../platform/temporal-dev-server';
import { freePort, runTs } from '../test/support/processes';
import { login, operatorOf } from '../test/support/stack';
import { pingUpdate, TRIVIAL_WORKFLOW_TYPE } from './baselines/trivial-contract';
import type { trivialWorkflow } from './baselines/trivial-workflows';
import { measureAutocannon, measureLoop, postJson } from './lib/load';
import { CpuPerRequest, databaseProcesses } from './lib/cpu-per-request';
import { describeMachine, loadAverage } from './lib/machine';
import {
  type Comparison,
  formatMarkdown,
  formatText,
  type Measured,
  pct,
  ratioOf,
  type Settings,
  type Summary,
  summarizeComparison,
  type Target,
  writeResults,
} from './lib/report';
import { serviceGroup, waitForHttp } from './lib/services';
import type { Sample } from './lib/stats';
import { Cleanup, deleteRedisKeys, must, numberEnv, requireServices, withDatabase } from './lib/harness';

const RESULTS_FILE = path.join(__dirname, 'RESULTS.md');
const WORKER_READY = "state: 'RUNNING'"; // the Temporal SDK's log line once a worker polls its queue
const SETTLE_MS = 500;

const log = (msg: string) => console.log(`[bench] ${msg}`);

type ScenarioKey = 'get' | 'create';
const SCENARIOS: readonly ScenarioKey[] = ['get', 'create'];

/** BENCH_SCENARIOS: which scenarios to run (all when unset). */
function readScenarios(): ScenarioKey[] {
  const raw = (process.env.BENCH_SCENARIOS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = raw.filter((k) => !(SCENARIOS as readonly string[]).includes(k));
  if (unknown.length) throw new Error(`BENCH_SCENARIOS: no scenario ${unknown.join(', ')} (known: ${SCENARIOS.join(', ')})`);
  return raw.length ? SCENARIOS.filter((k) => raw.includes(k)) : [...SCENARIOS];
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
  (s.errors ? `, ${s.errors} errors (${s.firstError ?? '?'})` : '');

/** Rate limits of the run: the limiter runs on every authenticated request but never refuses one. */
const RAISED_LIMIT = '100000000';

type SideKey = 'bare' | 'unauthenticated' | 'authenticated';
const SIDES: readonly SideKey[] = ['bare', 'unauthenticated', 'authenticated'];
/** GET only, with BENCH_BASE_ROOT: the authenticated API of another checkout. */
type GetSideKey = SideKey | 'base';

async function main(cleanup: Cleanup): Promise<number> {
  const settings = readSettings();
  const scenarios = readScenarios();
  const partial = scenarios.length < SCENARIOS.length;
  const base = loadConfig(process.env);
  const runId = `${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const databaseName = `deskflow_bench_${runId}`;
  // The API and the worker connect as the application role (RLS applies); migrations, seeding, the bare
  // GET baseline and the final DROP use the owner.
  const appDatabaseUrl = withDatabase(base.DATABASE_URL, databaseName);
  const adminDatabaseUrl = withDatabase(base.DATABASE_ADMIN_URL, databaseName);
  const serverUrl = withDatabase(base.DATABASE_ADMIN_URL, 'postgres');
  const redisPrefix = `deskflow-bench:${runId}:`;
  const taskQueue = `bench-tickets-${runId}`;
  const trivialTaskQueue = `bench-trivial-${runId}`;

  log(`run ${runId}: ${scenarios.join(' + ')}, ${settings.rounds} round(s) × ${settings.durationS} s, warm-up ${settings.warmupS} s`);
  await requireServices(serverUrl, base.REDIS_URL);
  const machine = await describeMachine(serverUrl, base.REDIS_URL);
  log(`machine: ${machine.cpu}, ${machine.cores} cores, ${machine.ramGiB} GiB, Node ${machine.node}, load ${machine.loadAverage}`);

  // Access tokens must outlive the run (warm-up + rounds, three sides, two scenarios, with room to spare).
  const baseRoot = process.env.BENCH_BASE_ROOT ? path.resolve(process.env.BENCH_BASE_ROOT) : undefined;
  const getSides: GetSideKey[] = baseRoot ? ['bare', 'unauthenticated', 'base', 'authenticated'] : [...SIDES];
  const runSeconds = (settings.warmupS + settings.rounds * settings.durationS) * getSides.length * scenarios.length;
  const accessTokenTtlS = Math.max(3600, Math.ceil(runSeconds * 2 + 600));

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
    TEMPORAL_TASK_QUEUE: taskQueue,
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

  log('starting the worker, the trivial-workflow worker, both API processes and the bare GET baseline…');
  const worker = start('worker', 'workers/main.ts');
  // The trivial-workflow worker is the create scenario's baseline only. (The real worker is needed either way: the
  // GET scenario's ticket is created through the API.)
  const trivialWorker = scenarios.includes('create')
    ? start('trivial-worker', 'bench/baselines/trivial-worker.ts', { BENCH_TRIVIAL_TASK_QUEUE: trivialTaskQueue })
    : undefined;
  const apiPort = await freePort();
  const api = start('api', 'api/main.ts', { PORT: String(apiPort) });
  const unauthPort = await freePort();
  const unauth = start('unauthenticated-api', 'bench/baselines/unauthenticated-api.ts', {
    PORT: String(unauthPort),
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
  const basePort = await freePort();
  const base_ = baseRoot ? start('api-base', 'api/main.ts', { PORT: String(basePort) }, baseRoot) : undefined;
  const urls: Record<GetSideKey, string> = {
    authenticated: `http://127.0.0.1:${apiPort}`,
    unauthenticated: `http://127.0.0.1:${unauthPort}`,
    bare: `http://127.0.0.1:${barePort}`,
    base: `http://127.0.0.1:${basePort}`,
  };
  await Promise.all([
    worker.waitForOutput(WORKER_READY, 90_000),
    trivialWorker?.waitForOutput(WORKER_READY, 90_000),
    waitForHttp(api, `${urls.authenticated}/readyz`, {}, 60_000),
    waitForHttp(unauth, `${urls.unauthenticated}/readyz`, {}, 60_000),
    base_ && waitForHttp(base_, `${urls.base}/readyz`, {}, 60_000),
    bare.waitForOutput('bare-get listening', 60_000),
  ]);

  const connection = await Connection.connect({ address: temporal.address });
  cleanup.add('Temporal client connection', () => connection.close());
  const temporalClient = new Client({ connection, namespace: base.TEMPORAL_NAMESPACE });
  const agent = new http.Agent({ keepAlive: true, maxSockets: settings.createConcurrency });
  cleanup.add('HTTP agent', async () => agent.destroy());

  // ---- log in, create one ticket, check the three GET endpoints ----------------------------------
  const { token } = await login({ url: urls.authenticated }, email, password);
  // Every side gets the same request headers (the bare baseline and the unauthenticated API ignore Authorization).
  const headers = { Authorization: `Bearer ${token}`, Accept: 'application/json' };
  const createBody = JSON.stringify({
    subject: 'Benchmark ticket',
    description: 'Created by bench/run.ts.',
    customer_id: customerId,
    priority: 'normal',
  });
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
  const answers: Partial<Record<GetSideKey, Answer>> = {};
  for (const side of getSides) answers[side] = await get(urls[side] + ticketPath, headers);
  const policy = answers.authenticated!.headers.get('ratelimit-policy');
  if (!policy?.includes(`q=${RAISED_LIMIT}`)) throw new Error(`the API's rate limiter is not on with the raised limit (RateLimit-Policy: ${policy})`);
  if (baseRoot && answers.base!.headers.get('ratelimit-policy') !== policy) throw new Error("the base checkout's API does not rate-limit as this one does");
  if (answers.unauthenticated!.headers.get('ratelimit-policy') !== null) throw new Error('the unauthenticated API still rate-limits');
  // The baselines must do the same work: same row, same JSON.
  const bodies = Object.fromEntries(getSides.map((side) => [side, JSON.stringify(json200(`GET ${side}`, answers[side]!))]));
  if (getSides.some((side) => bodies[side] !== bodies.authenticated)) {
    throw new Error(
      'the GET baselines do not answer what the API answers; update bench/baselines/\n' + getSides.map((side) => `${side}: ${bodies[side]}`).join('\n'),
    );
  }
  log(
    `logged in; ticket ${created.id} created; 401 without a credential, RateLimit-Policy ${policy}; all ${getSides.length} GET endpoints answer the same body`,
  );

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
  const measure = {
    get: {
      bare: getOn(urls.bare),
      unauthenticated: getOn(urls.unauthenticated),
      authenticated: getOn(urls.authenticated),
      base: getOn(urls.base),
    } satisfies Record<GetSideKey, (durationS: number) => Promise<Sample>>,
    create: {
      bare: (durationS: number) =>
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
      unauthenticated: createOn(createUrl.unauthenticated),
      authenticated: createOn(createUrl.authenticated),
    },
  } satisfies { get: Record<GetSideKey, (durationS: number) => Promise<Sample>>; create: Record<SideKey, (durationS: number) => Promise<Sample>> };

  const names: Record<'get' | 'create', Record<string, string>> = {
    get: { bare: 'bare express+pg', unauthenticated: 'api unauthenticated', authenticated: 'api authenticated', base: 'api authenticated (base checkout)' },
    create: { bare: 'bare temporal', unauthenticated: 'api unauthenticated', authenticated: 'api authenticated' },
  };
  const ratios = [
    { num: 'authenticated', den: 'bare' },
    { num: 'authenticated', den: 'unauthenticated' },
    { num: 'unauthenticated', den: 'bare' },
  ];
  const getRatios = baseRoot ? [...ratios, { num: 'base', den: 'bare' }, { num: 'authenticated', den: 'base' }] : ratios;
  const sidesOf = (key: ScenarioKey): GetSideKey[] => (key === 'get' ? getSides : [...SIDES]);
  const measureOf = (key: ScenarioKey, side: GetSideKey) => (key === 'get' ? measure.get[side] : measure.create[side as SideKey]);

  // CPU per GET request by process (the side's server, PostgreSQL, Redis): what separates the sides, split by who pays.
  const cpu = new CpuPerRequest(
    { bare: bare.child.pid, unauthenticated: unauth.child.pid, authenticated: api.child.pid, base: base_?.child.pid },
    await databaseProcesses(adminDatabaseUrl, base.REDIS_URL),
  );
  cleanup.add('CPU sampler', async () => cpu.stop());

  if (settings.warmupS > 0) {
    for (const key of scenarios) {
      for (const side of sidesOf(key)) {
        const s = await measureOf(key, side)(settings.warmupS);
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
      sides: getSides.map((key) => ({ key, name: names.get[key]! })),
      ratios: getRatios,
      rounds: [],
    },
    create: {
      title: 'POST /api/v1/tickets',
      load: `${settings.createConcurrency} concurrent clients (measureLoop)`,
      sides: SIDES.map((key) => ({ key, name: names.create[key]! })),
      ratios,
      rounds: [],
    },
  };

  for (let round = 1; round <= settings.rounds; round++) {
    // Odd rounds: bare → unauthenticated → authenticated; even rounds the reverse, so over an even number of
    // rounds every pair of sides is measured as often in one order as in the other.
    for (const key of scenarios) {
      const sides = sidesOf(key);
      const order = round % 2 === 1 ? [...sides] : [...sides].reverse();
      const samples: Partial<Record<GetSideKey, Sample>> = {};
      for (const side of order) {
        const run = () => measureOf(key, side)(settings.durationS);
        const s = key === 'get' ? await cpu.around(side, run) : await run();
        assertAllRunning();
        samples[side] = s;
        log(`round ${round}/${settings.rounds} ${key} ${names[key][side]}: ${fmt(s)}`);
        await sleep(SETTLE_MS);
      }
      comparisons[key].rounds.push({ order, samples: samples as Record<GetSideKey, Sample> });
    }
  }

  // ---- verdicts, table, RESULTS.md ---------------------------------------------------------------
  const clean = (s: Measured) => s.errors === 0;
  const errorNote = (s: Measured) => (clean(s) ? '' : ` — ${s.errors} failed requests in this scenario, so not met`);
  const ratioTarget = (s: Measured, label: string, num: SideKey, den: SideKey, min: number): Target => {
    const r = ratioOf(s, num, den);
    return {
      label,
      met: clean(s) && r.value >= min,
      detail: `${pct(r.value)} (${s.medians[num]!.rps.toFixed(0)} vs ${s.medians[den]!.rps.toFixed(0)} req/s)${errorNote(s)}`,
    };
  };
  const auth = (s: Measured) => s.medians.authenticated!;

  const verdicts: Record<ScenarioKey, (s: Measured) => Target[]> = {
    get: (s) => [
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
    ],
    create: (s) => [
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
    ],
  };
  const summaries: Summary[] = scenarios.map((key) => summarizeComparison(comparisons[key], verdicts[key]));
  const createSummary = summaries.find((s) => s.comparison === comparisons.create);
  if (createSummary) {
    log(`create, authenticated / unauthenticated (recorded, no target): ${pct(ratioOf(createSummary, 'authenticated', 'unauthenticated').value)}`);
  }

  const method = [
    'One run, one machine, loopback only. `bench/run.ts` starts a Temporal dev server (in memory, headless), a scratch ' +
      'PostgreSQL database migrated as the owner (DATABASE_ADMIN_URL), a Redis key prefix, one real worker process ' +
      '(`workers/main.ts`), the real API process (`api/main.ts`), the unauthenticated API process and the baselines; all are ' +
      'removed at the end. Both API processes and the worker run with NODE_ENV=production, LOG_LEVEL=warn, DATABASE_POOL_MAX=20, ' +
      'connected as the least-privilege role of DATABASE_URL (deskflow_app, row-level security on), with field-encryption keys ' +
      'generated for the run. The load generators run inside the bench process.',
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
      'its update handler returns at once) with a fresh workflow id and USE_EXISTING, on its own task queue and worker process ' +
      '(`bench/baselines/trivial-worker.ts`, same workflow-task settings as the real worker). API sides: POST /api/v1/tickets over ' +
      'keep-alive HTTP, a new ticket each time (no Idempotency-Key), both API processes served by the same real worker.',
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

  cpu.stop();
  const cpuTable = scenarios.includes('get') ? cpu.markdown(getSides.map((key) => ({ key, name: names.get[key]! }))) : undefined;
  const cpuSection = cpuTable
    ? [
        `## GET /api/v1/tickets/:id — CPU per request by process`,
        '',
        'CPU time (user + system, from /proc, sampled every 0.5 s) of each process over each measurement ÷ its successful requests, median over ' +
          'the rounds. **own process**: that side’s server (with its child processes); **PostgreSQL**: the postmaster and all its backends; ' +
          '**Redis**: the server. Both databases are whole servers, so anything else using them at the time counts as well; the load ' +
          'generator (this process) is not included.',
        '',
        cpuTable,
      ].join('\n')
    : undefined;
  const text = formatText(summaries) + (cpuSection ? `\n\n${cpuSection}` : '');
  console.log(text);
  // A partial run (BENCH_SCENARIOS) must not replace the recorded figures of the scenarios it did not run.
  const resultsFile = process.env.BENCH_RESULTS_FILE || (partial ? undefined : RESULTS_FILE);
  if (resultsFile) {
    const markdown = formatMarkdown(machine, settings, summaries, method, loadAverage());
    writeResults(resultsFile, cpuSection ? `${markdown}\n\n${cpuSection}` : markdown);
    log(`results written to ${path.relative(process.cwd(), resultsFile) || resultsFile}`);
  } else {
    log(`a partial run (BENCH_SCENARIOS=${scenarios.join(',')}): bench/RESULTS.md left as it was (BENCH_RESULTS_FILE writes the block elsewhere)`);
  }

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
