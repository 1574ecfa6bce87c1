/**
 * `npm run bench:webhooks` (issue #10): webhook delivery throughput and event-to-receipt latency of the real
 * worker (its dispatcher: first attempts straight from the outbox, no workflow), against bare Temporal doing the
 * same POSTs, in one run on this machine, loopback only.
 *
 * Starts everything it needs (Temporal dev server in memory, a scratch database, a Redis key prefix, the real
 * worker with WEBHOOK_ALLOW_LOOPBACK=true, the real API, the baselines' worker) and one loopback receiver (in this
 * process) that answers 200 at once on /ok/<n> (checking every signature with node:crypto), 500 on /fail, and 200
 * on /bare (the baselines, unsigned). Each round measures:
 *
 *  - **A** bare Temporal, one workflow per delivery (`bench/baselines/webhook-workflows.ts` bareWebhookOne: one
 *    activity POSTing the body), started open-loop at BENCH_WH_BARE_RATE/s with at most BENCH_WH_BARE_OUTSTANDING
 *    deliveries outstanding (offered above its capacity: the figure is its capacity);
 *  - **B** bare Temporal, batched: BENCH_WH_BATCH_WORKFLOWS workflows of BENCH_WH_BATCH_SIZE parallel activities,
 *    all started at once;
 *  - **Deskflow, outbox rows** at BENCH_WH_RATES deliveries/s (open loop): events inserted directly with the
 *    projection's own fan-out (one statement: the webhook_events row and one webhook_deliveries row per live
 *    endpoint, as activities/projection.ts writes them), BENCH_WH_ENDPOINTS endpoints (created through the API);
 *  - **Deskflow, backlog**: BENCH_WH_BACKLOG deliveries committed at once, then drained (the saturation rate);
 *  - **Deskflow, end to end**: POST /api/v1/tickets open-loop at BENCH_WH_E2E_RATE tickets/s; each ticket.created
 *    event fans out to every endpoint through the real workflow → projection → outbox → dispatcher path;
 *  - **SLA control / isolation**: outbox rows at BENCH_WH_ISOLATION_RATE good deliveries/s while BENCH_WH_SLA_TICKETS
 *    tickets created through the API breach their first-reply target during the load; in isolation one more
 *    endpoint (/fail) answers 500 to everything (so its deliveries go to the backoff workflows and are dead-lettered).
 *
 * Latency = receipt time at the receiver − the event's `created_at` (the projection statement's transaction time,
 * i.e. its commit within a millisecond); for the baselines, receipt − the moment the delivery was due to start.
 * Every figure is the median over BENCH_WH_ROUNDS rounds. Writes the section between `<!-- bench-webhooks:begin -->`
 * and `<!-- bench-webhooks:end -->` of bench/RESULTS.md and prints it.
 *
 * Env: BENCH_WH_ROUNDS (3), BENCH_WH_STEP_SECONDS (10), BENCH_WH_RATES (100,300,500), BENCH_WH_ENDPOINTS (5),
 *      BENCH_WH_BACKLOG (3000), BENCH_WH_BARE_RATE (100), BENCH_WH_BARE_OUTSTANDING (100), BENCH_WH_BATCH_WORKFLOWS (20),
 *      BENCH_WH_BATCH_SIZE (100), BENCH_WH_E2E_RATE (20), BENCH_WH_ISOLATION_RATE (100), BENCH_WH_SLA_TICKETS (60),
 *      BENCH_WH_SLA_TARGET_SECONDS (12), BENCH_WH_ONLY (comma-separated scenario keys: a partial run, for diagnosis),
 *      BENCH_WH_TIMEOUT_SECONDS (watchdog, 1500), BENCH_STRICT=1 (exit 1 when a
 *      target is missed), DATABASE_URL / DATABASE_ADMIN_URL / REDIS_URL as for bench/run.ts. WEBHOOK_* and WORKER_* pass through.
 */
import { execFileSync } from 'node:child_process';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import { customerStore } from '../stores/customers';
import { userStore } from '../stores/users';
import { createFieldCrypto } from '../platform/field-crypto';
import { freePort } from '../test/support/processes';
import { login, operatorOf } from '../test/support/stack';
import { webhookDeliveryWorkflowId } from '../workflows/webhook-delivery-contract';
import { BARE_BATCH_WORKFLOW_TYPE, BARE_ONE_WORKFLOW_TYPE, type BarePost } from './baselines/webhook-contract';
import { type Cleanup, numberEnv, requireServices, runBench, writeSection } from './lib/harness';
import { openLoop, postJson } from './lib/load';
import { describeMachine, loadAverage, type Machine } from './lib/machine';
import { type PhaseUsage, ProcSampler } from './lib/proc-sampler';
import { scratchNames, startScratch } from './lib/scratch';
import { serviceGroup, waitForHttp } from './lib/services';
import { table } from './lib/report';
import { latencyFigures, median, rateWithin } from './lib/stats';

const TAG = 'bench-webhooks';
const RESULTS_FILE = path.join(__dirname, 'RESULTS.md');
const BEGIN = '<!-- bench-webhooks:begin -->';
const END = '<!-- bench-webhooks:end -->';
const PREAMBLE = '# Deskflow benchmark results\n\n';
const WORKER_READY = "state: 'RUNNING'";
const TARGET_RATE = 300;
const TARGET_P99_MS = 1000;
/** After a step's load ends, its deliveries get this long to arrive (then the missing ones are counted). */
const DRAIN_CAP_MS = 20_000;
/** Receipts in the first second of a step are left out of its rate (the pipeline filling). */
const RAMP_MS = 1000;

const log = (msg: string) => console.log(`[${TAG}] ${msg}`);

interface Settings {
  rounds: number;
  stepS: number;
  rates: number[];
  endpoints: number;
  backlog: number;
  bareRate: number;
  bareOutstanding: number;
  batchWorkflows: number;
  batchSize: number;
  e2eRate: number;
  isolationRate: number;
  slaTickets: number;
  slaTargetS: number;
  timeoutS: number;
}

function readSettings(): Settings {
  const rates = (process.env.BENCH_WH_RATES ?? '100,300,500').split(',').map((r) => Number(r.trim()));
  if (rates.some((r) => !Number.isFinite(r) || r <= 0 || r > 5000))
    throw new Error(`BENCH_WH_RATES=${process.env.BENCH_WH_RATES}: expected rates in (0, 5000]`);
  return {
    rounds: numberEnv('BENCH_WH_ROUNDS', 3, { max: 20 }),
    stepS: numberEnv('BENCH_WH_STEP_SECONDS', 10, { integer: false, min: 3, max: 120 }),
    rates,
    endpoints: numberEnv('BENCH_WH_ENDPOINTS', 5, { max: 50 }),
    backlog: numberEnv('BENCH_WH_BACKLOG', 3000, { min: 100, max: 100_000 }),
    bareRate: numberEnv('BENCH_WH_BARE_RATE', 100, { max: 2000 }),
    bareOutstanding: numberEnv('BENCH_WH_BARE_OUTSTANDING', 100, { max: 2000 }),
    batchWorkflows: numberEnv('BENCH_WH_BATCH_WORKFLOWS', 20, { max: 200 }),
    batchSize: numberEnv('BENCH_WH_BATCH_SIZE', 100, { max: 1000 }),
    e2eRate: numberEnv('BENCH_WH_E2E_RATE', 20, { integer: false, min: 1, max: 200 }),
    isolationRate: numberEnv('BENCH_WH_ISOLATION_RATE', 100, { max: 5000 }),
    slaTickets: numberEnv('BENCH_WH_SLA_TICKETS', 60, { min: 0, max: 2000 }),
    slaTargetS: numberEnv('BENCH_WH_SLA_TARGET_SECONDS', 12, { integer: false, min: 5, max: 600 }),
    timeoutS: numberEnv('BENCH_WH_TIMEOUT_SECONDS', 1500, { min: 60 }),
  };
}

// ---- the receiver --------------------------------------------------------------------------------

interface Receipt {
  /** The webhook-id header. */
  id: string;
  at: number;
  path: string;
}

/** HMAC-SHA256 over `id.timestamp.body` (Standard Webhooks), as a receiver verifies it. */
function signatureOk(secret: string, headers: http.IncomingHttpHeaders, body: string): boolean {
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const expected = `v1,${createHmac('sha256', key).update(`${headers['webhook-id']}.${headers['webhook-timestamp']}.${body}`).digest('base64')}`;
  return String(headers['webhook-signature'] ?? '')
    .split(' ')
    .includes(expected);
}

class Receiver {
  readonly receipts: Receipt[] = [];
  /** First receipt time of every webhook-id received (ids are unique within a run). */
  readonly first = new Map<string, number>();
  readonly secrets = new Map<string, string>();
  badSignatures = 0;
  failAnswered = 0;
  private readonly waiters = new Map<string, () => void>();
  private server?: http.Server;
  port = 0;

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const at = Date.now();
        const url = req.url ?? '';
        const id = String(req.headers['webhook-id'] ?? '');
        if (url === '/fail') {
          this.failAnswered++;
          res.writeHead(500).end();
          return;
        }
        const secret = this.secrets.get(url);
        if (secret !== undefined && !signatureOk(secret, req.headers, Buffer.concat(chunks).toString('utf8'))) this.badSignatures++;
        this.receipts.push({ id, at, path: url });
        if (!this.first.has(id)) this.first.set(id, at);
        const waiter = this.waiters.get(id);
        if (waiter) {
          this.waiters.delete(id);
          waiter();
        }
        res.writeHead(200).end();
      });
    });
    this.server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  url(p: string): string {
    return `http://127.0.0.1:${this.port}${p}`;
  }

  /** Resolves at the receipt of `id` (a baseline delivery). */
  wait(id: string, timeoutMs: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(id);
        reject(new Error(`no receipt of ${id} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(id, () => {
        clearTimeout(timer);
        resolve(Date.now());
      });
    });
  }

  /** First receipt time of each id among receipts from index `from` on, and how many repeated one. */
  firstReceipts(from: number): { first: Map<string, number>; duplicates: number } {
    const first = new Map<string, number>();
    let duplicates = 0;
    for (let i = from; i < this.receipts.length; i++) {
      const r = this.receipts[i]!;
      if (first.has(r.id)) duplicates++;
      else first.set(r.id, r.at);
    }
    return { first, duplicates };
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }
}

// ---- figures ---------------------------------------------------------------------------------------

interface StepResult {
  /** Deliveries (to answering endpoints) expected in the step. */
  expected: number;
  received: number;
  missing: number;
  duplicates: number;
  /** Offered deliveries/s (open loop), or NaN. */
  offered: number;
  /** Delivered per second while the load ran (after the first second). */
  rate: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  /** Load starts skipped because too many were outstanding (baseline A) or inserts in flight. */
  skipped: number;
  /** From the end of the load to the last receipt. */
  drainMs: number;
  sla?: { n: number; missing: number; p50: number; p99: number; max: number };
  failing?: { attempts: number; dead: number; outstanding: number };
}

// ---- the run -------------------------------------------------------------------------------------------

/** The projection's fan-out (activities/projection.ts `hooks` and `deliveries`), for one event written directly. */
const INSERT_EVENT = `
WITH hooks AS (
  INSERT INTO webhook_events (id, tenant_id, type, ticket_id, ticket_version, internal, body)
  VALUES ($1, $2, $3, $4, 1, false, $5)
  RETURNING seq, type, internal
), deliveries AS (
  INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, event_seq, event_type, ticket_id, status)
  SELECT gen_random_uuid(), $2, ep.id, h.seq, h.type, $4, CASE WHEN ep.enabled THEN 'pending' ELSE 'held' END
  FROM hooks h
  JOIN webhook_endpoints ep ON ep.tenant_id = $2 AND ep.deleted_at IS NULL
    AND (cardinality(ep.event_types) = 0 OR h.type = ANY (ep.event_types))
    AND (NOT h.internal OR ep.include_internal)
  ORDER BY h.seq, ep.id
)
SELECT 1`;

/** The same for `n` events in one transaction (the backlog). */
const INSERT_BACKLOG = `
WITH hooks AS (
  INSERT INTO webhook_events (id, tenant_id, type, ticket_id, ticket_version, internal, body)
  SELECT gen_random_uuid(), $1, 'ticket.updated', gen_random_uuid(), 1, false, $2 FROM generate_series(1, $3)
  RETURNING seq, type, internal, ticket_id
)
INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, event_seq, event_type, ticket_id, status)
SELECT gen_random_uuid(), $1, ep.id, h.seq, h.type, h.ticket_id, CASE WHEN ep.enabled THEN 'pending' ELSE 'held' END
FROM hooks h
JOIN webhook_endpoints ep ON ep.tenant_id = $1 AND ep.deleted_at IS NULL
  AND (cardinality(ep.event_types) = 0 OR h.type = ANY (ep.event_types))
ORDER BY h.seq, ep.id`;

interface DeliveryRow {
  id: string;
  endpoint_id: string;
  created_ms: number;
}

function postgresPid(): number | undefined {
  for (const file of ['/var/run/postgresql/15-main.pid', '/run/postgresql/15-main.pid']) {
    try {
      const pid = Number(readFileSync(file, 'utf8').split('\n')[0]);
      if (Number.isInteger(pid) && pid > 0) return pid;
    } catch {
      // not this one
    }
  }
  return undefined;
}

function clockTicks(): number {
  try {
    const v = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5000 }).trim());
    return Number.isFinite(v) && v > 0 ? v : 100;
  } catch {
    return 100;
  }
}
const HZ = clockTicks();

/** CPU seconds so far of each PostgreSQL backend of the scratch database, by role (the app's, or the owner's: the bench's own). */
async function backendCpu(admin: pg.Pool, database: string): Promise<Map<number, { role: string; s: number }>> {
  const { rows } = await admin.query<{ pid: number; usename: string }>('SELECT pid, usename FROM pg_stat_activity WHERE datname = $1', [database]);
  const out = new Map<number, { role: string; s: number }>();
  for (const { pid, usename } of rows) {
    try {
      const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
      out.set(pid, { role: usename, s: (Number(rest[11]) + Number(rest[12])) / HZ });
    } catch {
      // gone, or not on this host
    }
  }
  return out;
}

async function main(cleanup: Cleanup): Promise<number> {
  const s = readSettings();
  const scratch = scratchNames('wh');
  const { base, runId, databaseName, appDatabaseUrl, adminDatabaseUrl, serverUrl } = scratch;
  const taskQueue = `bench-wh-tickets-${runId}`;
  const webhookQueue = `bench-wh-webhooks-${runId}`;
  const bareQueue = `bench-wh-bare-${runId}`;
  const benchStarted = Date.now();

  log(`run ${runId}: ${s.rounds} rounds, steps of ${s.stepS} s at ${s.rates.join(', ')} deliveries/s, ${s.endpoints} endpoints`);
  await requireServices(serverUrl, base.REDIS_URL);
  const machine = await describeMachine(serverUrl, base.REDIS_URL);
  log(`machine: ${machine.cpu}, ${machine.cores} cores, ${machine.ramGiB} GiB, Node ${machine.node}, load ${machine.loadAverage}`);

  const receiver = new Receiver();
  await receiver.start();
  cleanup.add('receiver', () => receiver.stop());

  const { temporal, env, runConfig } = await startScratch(scratch, cleanup, log, s.timeoutS, {
    TEMPORAL_TASK_QUEUE: taskQueue,
    TEMPORAL_WEBHOOK_TASK_QUEUE: webhookQueue,
    WEBHOOK_ALLOW_LOOPBACK: 'true',
  });

  const admin = new pg.Pool({ connectionString: adminDatabaseUrl, max: 8 });
  cleanup.add('owner pool', () => admin.end());
  const email = `bench-admin-${runId.replace(/_/g, '-')}@bench.test`;
  const password = randomBytes(18).toString('base64url');
  const tenantId = randomUUID();
  await admin.query('INSERT INTO tenants (id, name) VALUES ($1, $2)', [tenantId, 'Bench Webhooks Inc']);
  await userStore(admin).create(operatorOf(tenantId), { email, password, name: 'Bench admin', role: 'admin' });
  const customer = await customerStore(admin, createFieldCrypto(runConfig)).create(operatorOf(tenantId), randomUUID(), {
    name: 'Bench Customer',
    email: `customer-${runId.replace(/_/g, '-')}@example.com`,
    phone: null,
    external_id: null,
  });

  const { start, assertAllRunning: health } = serviceGroup(env, cleanup);

  log('starting the worker, the API and the baselines’ worker…');
  const worker = start('worker', 'workers/main.ts');
  const bareWorker = start('bare-webhook-worker', 'bench/baselines/webhook-worker.ts', { BENCH_BARE_WEBHOOK_TASK_QUEUE: bareQueue });
  const apiPort = await freePort();
  const api = start('api', 'api/main.ts', { PORT: String(apiPort) });
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  await Promise.all([
    worker.waitForOutput(WORKER_READY, 90_000),
    bareWorker.waitForOutput(WORKER_READY, 90_000),
    waitForHttp(api, `${apiUrl}/readyz`, {}, 90_000),
  ]);

  const connection = await Connection.connect({ address: temporal.address });
  cleanup.add('Temporal client connection', () => connection.close());
  const temporalClient = new Client({ connection, namespace: runConfig.TEMPORAL_NAMESPACE });

  const agent = new http.Agent({ keepAlive: true, maxSockets: 50 });
  cleanup.add('HTTP agent', async () => agent.destroy());
  const { token } = await login({ url: apiUrl }, email, password);
  const headers = { Authorization: `Bearer ${token}`, Accept: 'application/json' };
  const post = (p: string, body: unknown) => postJson(agent, new URL(p, apiUrl), headers, JSON.stringify(body));

  // ---- endpoints (through the API: SSRF check with WEBHOOK_ALLOW_LOOPBACK, secrets generated and encrypted) ----
  const good: { id: string; path: string }[] = [];
  for (let i = 0; i < s.endpoints; i++) {
    const p = `/ok/${i}`;
    const created = (await post('/api/v1/webhook-endpoints', { url: receiver.url(p), description: `bench receiver ${i}` })) as { id: string; secret: string };
    receiver.secrets.set(p, created.secret);
    good.push({ id: created.id, path: p });
  }
  const failing = (await post('/api/v1/webhook-endpoints', { url: receiver.url('/fail'), description: 'bench receiver answering 500', enabled: false })) as {
    id: string;
  };
  const goodIds = new Set(good.map((g) => g.id));
  // Each isolation step starts from a healthy endpoint whose circuit breaker is closed, so every round measures the
  // same thing: the failures before the breaker trips, then the holding (not a breaker left open by the last round).
  const setFailing = (enabled: boolean) =>
    admin.query(
      `UPDATE webhook_endpoints SET enabled = $2, disabled_reason = CASE WHEN $2 THEN NULL ELSE $3 END,
              breaker_state = 'closed', breaker_closed_at = now(), breaker_opened_at = NULL, breaker_retry_at = NULL,
              breaker_tripped_at = '{}', breaker_probe_delivery_id = NULL, breaker_probe_started_at = NULL
       WHERE id = $1`,
      [failing.id, enabled, 'bench: outside the isolation scenario'],
    );

  // SLA: tickets of priority high breach their first reply after slaTargetS; others have no policy.
  await post('/api/v1/sla-policies', {
    name: `bench breach (first reply in ${s.slaTargetS} s)`,
    position: 0,
    conditions: { priority: ['high'] },
    targets: { high: { first_reply: s.slaTargetS / 60 } },
    calendar_id: null,
    escalation_rules: [],
  });
  const ticketBody = (priority: 'high' | 'normal') =>
    JSON.stringify({ subject: 'Webhook bench ticket', description: 'Created by bench/webhooks.ts.', customer_id: customer.id, priority });
  const createUrl = new URL('/api/v1/tickets', apiUrl);
  const createTicket = async (priority: 'high' | 'normal') => (await postJson(agent, createUrl, headers, ticketBody(priority))) as { id: string };

  // The outbox rows' body: a real ticket.created payload (the probe ticket's), so the bytes signed and sent are the real size.
  const probe = await createTicket('normal');
  let template = '';
  for (let i = 0; i < 100 && !template; i++) {
    const { rows } = await admin.query<{ body: string }>("SELECT body FROM webhook_events WHERE ticket_id = $1 AND type = 'ticket.created'", [probe.id]);
    template = rows[0]?.body ?? '';
    if (!template) await sleep(100);
  }
  if (!template) throw new Error('the probe ticket’s ticket.created event never reached webhook_events');
  const updatedBody = (ticketId: string) => template.replaceAll(probe.id, ticketId).replace('"type":"ticket.created"', '"type":"ticket.updated"');
  log(`${s.endpoints} endpoints (+1 failing, disabled for now); payload ${Buffer.byteLength(template)} bytes`);

  // ---- sampling --------------------------------------------------------------------------------------------
  const targets = [
    { name: 'worker', pid: worker.child.pid! },
    { name: 'temporal dev server', pid: temporal.process.pid! },
    { name: 'api', pid: api.child.pid! },
    { name: 'bare worker', pid: bareWorker.child.pid! },
    { name: 'bench (load + receiver)', pid: process.pid },
  ];
  const pgPid = postgresPid();
  if (pgPid) targets.push({ name: 'postgresql (all databases)', pid: pgPid });
  const sampler = ProcSampler.available() ? new ProcSampler(targets) : undefined;
  sampler?.start();
  cleanup.add('sampler', async () => sampler?.stop());
  const setPhase = (phase: string) => sampler?.setPhase(phase);

  // ---- helpers for the Deskflow steps ---------------------------------------------------------------------
  const maxSeq = async () => (await admin.query<{ s: string }>('SELECT coalesce(max(seq), 0)::text AS s FROM webhook_events')).rows[0]!.s;
  const deliveriesBetween = async (after: string, upTo: string): Promise<DeliveryRow[]> =>
    (
      await admin.query<DeliveryRow>(
        `SELECT d.id, d.endpoint_id, (extract(epoch FROM ev.created_at) * 1000)::float8 AS created_ms
         FROM webhook_deliveries d JOIN webhook_events ev ON ev.seq = d.event_seq
         WHERE d.event_seq > $1 AND d.event_seq <= $2`,
        [after, upTo],
      )
    ).rows;
  const insertEvent = async () => {
    const ticketId = randomUUID();
    await admin.query(INSERT_EVENT, [randomUUID(), tenantId, 'ticket.updated', ticketId, updatedBody(ticketId)]);
  };

  /** Waits until every good delivery of events (after, upTo] has a receipt, at most DRAIN_CAP_MS after `loadEnd`. */
  const awaitDeliveries = async (after: string, upTo: string, loadEnd: number) => {
    let rows: DeliveryRow[] = [];
    for (;;) {
      health();
      rows = (await deliveriesBetween(after, upTo)).filter((r) => goodIds.has(r.endpoint_id));
      const missing = rows.filter((r) => !receiver.first.has(`msg_${r.id}`)).length;
      if (missing === 0 || Date.now() > loadEnd + DRAIN_CAP_MS) return rows;
      await sleep(500);
    }
  };

  const deskflowFigures = (rows: DeliveryRow[], receiptsFrom: number, loadStart: number, loadEnd: number, offered: number, skipped: number): StepResult => {
    const { first, duplicates } = receiver.firstReceipts(receiptsFrom);
    const latencies: number[] = [];
    const times: number[] = [];
    let lastAt = loadEnd;
    for (const r of rows) {
      const at = first.get(`msg_${r.id}`);
      if (at === undefined) continue;
      latencies.push(at - r.created_ms);
      times.push(at);
      lastAt = Math.max(lastAt, at);
    }
    return {
      expected: rows.length,
      received: latencies.length,
      missing: rows.length - latencies.length,
      duplicates,
      offered,
      rate: rateWithin(times, loadStart + RAMP_MS, loadEnd),
      ...latencyFigures(latencies),
      skipped,
      drainMs: lastAt - loadEnd,
    };
  };

  /** Outbox rows at `rate` good deliveries/s for `seconds` (events at rate / good endpoints per second). */
  const outboxStep = async (rate: number, seconds: number, during?: () => Promise<void>) => {
    const before = await maxSeq();
    const receiptsFrom = receiver.receipts.length;
    const concurrent = during?.();
    const load = await openLoop(rate / s.endpoints, seconds, 64, insertEvent, health);
    const upTo = await maxSeq();
    await concurrent;
    const rows = await awaitDeliveries(before, upTo, load.endedAt);
    return deskflowFigures(rows, receiptsFrom, load.startedAt, load.endedAt, rate, load.skipped * s.endpoints);
  };

  /** SLA tickets created (open loop) at the start of a step; their breaches fall inside it when the step is long enough. */
  const slaTickets = () => {
    const ids: string[] = [];
    const run = async () => {
      if (s.slaTickets === 0) return;
      const rate = Math.max(5, s.slaTickets / 6);
      await openLoop(rate, s.slaTickets / rate, 50, async () => void ids.push((await createTicket('high')).id), health);
    };
    return { ids, run };
  };
  const slaFigures = async (ids: string[], deadline: number) => {
    let rows: { lateness: number }[] = [];
    for (;;) {
      rows = (
        await admin.query<{ lateness: number }>(
          "SELECT (data->>'lateness_ms')::float8 AS lateness FROM ticket_events WHERE ticket_id = ANY($1::uuid[]) AND type = 'sla.breached'",
          [ids],
        )
      ).rows;
      if (rows.length >= ids.length || Date.now() > deadline) break;
      await sleep(500);
    }
    const f = latencyFigures(rows.map((r) => r.lateness));
    return { n: rows.length, missing: ids.length - rows.length, p50: f.p50, p99: f.p99, max: f.max };
  };

  // ---- the scenarios ----------------------------------------------------------------------------------------
  const bareBody = template;
  const scenarios: { key: string; name: string; run: () => Promise<StepResult> }[] = [];

  scenarios.push({
    key: 'bare-one',
    name: `A: bare Temporal, 1 workflow per delivery (offered ${s.bareRate}/s, ≤ ${s.bareOutstanding} outstanding)`,
    run: async () => {
      const latencies: number[] = [];
      const times: number[] = [];
      const load = await openLoop(
        s.bareRate,
        s.stepS,
        s.bareOutstanding,
        async (scheduledAt) => {
          const id = `msg_${randomUUID()}`;
          const received = receiver.wait(id, DRAIN_CAP_MS);
          const postIt: BarePost = { url: receiver.url('/bare'), id, body: bareBody };
          await temporalClient.workflow.start(BARE_ONE_WORKFLOW_TYPE, { taskQueue: bareQueue, workflowId: `bare-one-${id}`, args: [postIt] });
          const at = await received;
          latencies.push(at - scheduledAt);
          times.push(at);
        },
        health,
      );
      const sent = load.offered - load.skipped;
      return {
        expected: sent,
        received: latencies.length,
        missing: sent - latencies.length,
        duplicates: 0,
        offered: s.bareRate,
        rate: rateWithin(times, load.startedAt + RAMP_MS, load.endedAt),
        ...latencyFigures(latencies),
        skipped: load.skipped,
        drainMs: Math.max(0, ...times) - load.endedAt,
      };
    },
  });

  scenarios.push({
    key: 'bare-batch',
    name: `B: bare Temporal, ${s.batchWorkflows} workflows × ${s.batchSize} parallel activities`,
    run: async () => {
      const startedAt = Date.now();
      const latencies: number[] = [];
      const times: number[] = [];
      const waits: Promise<void>[] = [];
      const starts: Promise<unknown>[] = [];
      for (let w = 0; w < s.batchWorkflows; w++) {
        const posts: BarePost[] = [];
        for (let i = 0; i < s.batchSize; i++) {
          const id = `msg_${randomUUID()}`;
          posts.push({ url: receiver.url('/bare'), id, body: bareBody });
          waits.push(
            receiver.wait(id, 60_000).then(
              (at) => {
                latencies.push(at - startedAt);
                times.push(at);
              },
              () => undefined,
            ),
          );
        }
        starts.push(temporalClient.workflow.start(BARE_BATCH_WORKFLOW_TYPE, { taskQueue: bareQueue, workflowId: `bare-batch-${randomUUID()}`, args: [posts] }));
      }
      await Promise.all(starts);
      await Promise.all(waits);
      const total = s.batchWorkflows * s.batchSize;
      const last = Math.max(startedAt, ...times);
      return {
        expected: total,
        received: latencies.length,
        missing: total - latencies.length,
        duplicates: 0,
        offered: Number.NaN,
        rate: (latencies.length * 1000) / Math.max(1, last - startedAt),
        ...latencyFigures(latencies),
        skipped: 0,
        drainMs: 0,
      };
    },
  });

  for (const rate of s.rates) {
    scenarios.push({ key: `outbox-${rate}`, name: `Deskflow, outbox rows at ${rate}/s`, run: () => outboxStep(rate, s.stepS) });
  }

  scenarios.push({
    key: 'backlog',
    name: `Deskflow, backlog of ${s.backlog} committed at once (saturation)`,
    run: async () => {
      const before = await maxSeq();
      const receiptsFrom = receiver.receipts.length;
      const committedAt = Date.now();
      await admin.query(INSERT_BACKLOG, [tenantId, template, Math.ceil(s.backlog / s.endpoints)]);
      const upTo = await maxSeq();
      const rows = await awaitDeliveries(before, upTo, committedAt);
      const r = deskflowFigures(rows, receiptsFrom, committedAt, committedAt, Number.NaN, 0);
      // Capacity: receipts between the 5th and the 95th percentile of their times (the ramp and the tail left out).
      const times = [...receiver.firstReceipts(receiptsFrom).first.values()].sort((a, b) => a - b);
      const lo = times[Math.floor(times.length * 0.05)] ?? committedAt;
      const hi = times[Math.floor(times.length * 0.95)] ?? committedAt;
      return { ...r, rate: hi > lo ? (times.length * 0.9 * 1000) / (hi - lo) : Number.NaN, drainMs: (times[times.length - 1] ?? committedAt) - committedAt };
    },
  });

  scenarios.push({
    key: 'e2e',
    name: `Deskflow, end to end: POST /api/v1/tickets at ${s.e2eRate}/s, ticket.created to ${s.endpoints} endpoints`,
    run: async () => {
      const before = await maxSeq();
      const receiptsFrom = receiver.receipts.length;
      const load = await openLoop(s.e2eRate, s.stepS, 200, async () => void (await createTicket('normal')), health);
      const upTo = await maxSeq();
      const rows = await awaitDeliveries(before, upTo, load.endedAt);
      return deskflowFigures(rows, receiptsFrom, load.startedAt, load.endedAt, s.e2eRate * s.endpoints, load.skipped * s.endpoints);
    },
  });

  // Both SLA scenarios last long enough for every breach to fire during the load.
  const slaStepS = Math.max(s.stepS, s.slaTargetS + 6 + 4);
  const withSla = async (failingOn: boolean): Promise<StepResult> => {
    if (failingOn) await setFailing(true);
    const deadBefore = failingOn
      ? Number(
          (await admin.query<{ n: string }>("SELECT count(*) AS n FROM webhook_deliveries WHERE endpoint_id = $1 AND status = 'dead'", [failing.id])).rows[0]!
            .n,
        )
      : 0;
    const failBefore = receiver.failAnswered;
    const sla = slaTickets();
    const slaStart = Date.now();
    const r = await outboxStep(s.isolationRate, slaStepS, sla.run);
    const slaFig = await slaFigures(sla.ids, slaStart + (s.slaTargetS + 6 + 30) * 1000);
    let failingFig: StepResult['failing'];
    if (failingOn) {
      // The failing endpoint's retries go on after the load (1 + 3 attempts over ~10 s): wait for them to end
      // (dead letters) so they do not run into the next step; bounded. Only then is the endpoint disabled again
      // (disabled earlier, its deliveries would be parked, not dead-lettered).
      const until = Date.now() + 30_000;
      let outstanding = 0;
      let dead = 0;
      for (;;) {
        const { rows } = await admin.query<{ outstanding: string; dead: string }>(
          `SELECT count(*) FILTER (WHERE status IN ('pending', 'retrying')) AS outstanding, count(*) FILTER (WHERE status = 'dead') AS dead
           FROM webhook_deliveries WHERE endpoint_id = $1`,
          [failing.id],
        );
        outstanding = Number(rows[0]!.outstanding);
        dead = Number(rows[0]!.dead) - deadBefore;
        if (outstanding === 0 || Date.now() > until) break;
        await sleep(1000);
      }
      failingFig = { attempts: receiver.failAnswered - failBefore, dead, outstanding };
      await setFailing(false);
      if (outstanding > 0) {
        // Still retrying after the wait: their backoff workflows are terminated and the deliveries taken out of the
        // dispatcher's reach, so the next round starts as quiet as the first (counted above as outstanding).
        const { rows } = await admin.query<{ id: string }>(
          "UPDATE webhook_deliveries SET status = 'dead', last_error = 'bench: stopped after the isolation scenario' WHERE endpoint_id = $1 AND status IN ('pending', 'retrying') RETURNING id",
          [failing.id],
        );
        await Promise.all(
          rows.map((row) =>
            temporalClient.workflow
              .getHandle(webhookDeliveryWorkflowId(row.id))
              .terminate('bench: isolation scenario over')
              .catch(() => undefined),
          ),
        );
      }
    }
    return { ...r, sla: slaFig, ...(failingFig ? { failing: failingFig } : {}) };
  };
  scenarios.push({
    key: 'sla-control',
    name: `SLA control: outbox rows at ${s.isolationRate}/s + ${s.slaTickets} SLA breaches, no failing endpoint`,
    run: () => withSla(false),
  });
  scenarios.push({
    key: 'isolation',
    name: `Isolation: as the control, plus 1 endpoint answering 500 to every delivery`,
    run: () => withSla(true),
  });

  // ---- warm-up, then the rounds ------------------------------------------------------------------------------
  setPhase('warm-up');
  log('warm-up: outbox rows at 100/s for 3 s, 20 bare workflows…');
  await outboxStep(100, 3);
  await Promise.all(
    Array.from({ length: 20 }, async () => {
      const id = `msg_${randomUUID()}`;
      const received = receiver.wait(id, 30_000);
      await temporalClient.workflow.start(BARE_ONE_WORKFLOW_TYPE, {
        taskQueue: bareQueue,
        workflowId: `bare-one-${id}`,
        args: [{ url: receiver.url('/bare'), id, body: bareBody }],
      });
      await received;
    }),
  );

  const only = (process.env.BENCH_WH_ONLY ?? '').split(',').filter(Boolean);
  if (only.length) {
    const unknown = only.filter((k) => !scenarios.some((sc) => sc.key === k));
    if (unknown.length) throw new Error(`BENCH_WH_ONLY: no scenario ${unknown.join(', ')} (known: ${scenarios.map((sc) => sc.key).join(', ')})`);
    scenarios.splice(0, scenarios.length, ...scenarios.filter((sc) => only.includes(sc.key)));
  }
  const results = new Map<string, StepResult[]>();
  const appRole = new URL(appDatabaseUrl).username;
  /** CPU seconds of the scratch database's backends per scenario: the app role's (worker, API) and the bench's (owner). */
  const dbCpu = new Map<string, { app: number; bench: number }>();
  for (let round = 1; round <= s.rounds; round++) {
    for (const sc of scenarios) {
      setPhase(sc.key);
      const t0 = Date.now();
      const cpuBefore = await backendCpu(admin, databaseName);
      const r = await sc.run();
      const cpuAfter = await backendCpu(admin, databaseName);
      const acc = dbCpu.get(sc.key) ?? { app: 0, bench: 0 };
      for (const [pid, x] of cpuAfter) {
        const d = x.s - (cpuBefore.get(pid)?.s ?? 0);
        if (x.role === appRole) acc.app += d;
        else acc.bench += d;
      }
      dbCpu.set(sc.key, acc);
      results.set(sc.key, [...(results.get(sc.key) ?? []), r]);
      log(`round ${round} ${sc.key} (${((Date.now() - t0) / 1000).toFixed(0)} s, load ${loadAverage()}): ${describe(r)}`);
      setPhase('between');
      await sleep(1000);
    }
  }
  setPhase('end');
  sampler?.stop();

  const summary = summarize(scenarios, results);
  const usage = scenarios.map((sc) => ({
    key: sc.key,
    rows: targets.map((t) => ({ name: t.name, u: sampler?.summary(t.name, sc.key) })),
    db: dbCpu.get(sc.key) ?? { app: Number.NaN, bench: Number.NaN },
    delivered: (results.get(sc.key) ?? []).reduce((a, x) => a + x.received, 0),
  }));
  const targetsMet = verdicts(summary, s);
  const text = render({
    machine,
    settings: s,
    summary,
    scenarios,
    usage,
    verdicts: targetsMet,
    badSignatures: receiver.badSignatures,
    loadAtEnd: loadAverage(),
    minutes: (Date.now() - benchStarted) / 60_000,
    slaStepS,
    payloadBytes: Buffer.byteLength(template),
  });
  console.log(`\n${text}\n`);
  log(`raw: ${JSON.stringify(Object.fromEntries(results))}`);
  if (only.length) log('a partial run (BENCH_WH_ONLY): bench/RESULTS.md left as it was');
  else {
    writeSection(RESULTS_FILE, BEGIN, END, text, PREAMBLE);
    log(`section written to ${RESULTS_FILE}`);
  }
  const missed = targetsMet.filter((t) => !t.met);
  return process.env.BENCH_STRICT === '1' && missed.length ? 1 : 0;
}

// ---- summary and report -----------------------------------------------------------------------------------

type Summary = Map<string, { median: StepResult; rounds: StepResult[] }>;

function summarize(scenarios: { key: string }[], results: Map<string, StepResult[]>): Summary {
  const out: Summary = new Map();
  for (const { key } of scenarios) {
    const rounds = results.get(key) ?? [];
    const m = (pick: (r: StepResult) => number) => median(rounds.map(pick));
    const sla = rounds.every((r) => r.sla)
      ? {
          n: m((r) => r.sla!.n),
          missing: rounds.reduce((a, r) => a + r.sla!.missing, 0),
          p50: m((r) => r.sla!.p50),
          p99: m((r) => r.sla!.p99),
          max: m((r) => r.sla!.max),
        }
      : undefined;
    const failing = rounds.every((r) => r.failing)
      ? { attempts: m((r) => r.failing!.attempts), dead: m((r) => r.failing!.dead), outstanding: m((r) => r.failing!.outstanding) }
      : undefined;
    out.set(key, {
      rounds,
      median: {
        expected: m((r) => r.expected),
        received: m((r) => r.received),
        missing: rounds.reduce((a, r) => a + r.missing, 0),
        duplicates: rounds.reduce((a, r) => a + r.duplicates, 0),
        offered: m((r) => r.offered),
        rate: m((r) => r.rate),
        p50: m((r) => r.p50),
        p95: m((r) => r.p95),
        p99: m((r) => r.p99),
        max: m((r) => r.max),
        skipped: rounds.reduce((a, r) => a + r.skipped, 0),
        drainMs: m((r) => r.drainMs),
        ...(sla ? { sla } : {}),
        ...(failing ? { failing } : {}),
      },
    });
  }
  return out;
}

interface Verdict {
  label: string;
  met: boolean;
  detail: string;
}

function verdicts(summary: Summary, s: Settings): Verdict[] {
  const out: Verdict[] = [];
  const at300 = summary.get(`outbox-${TARGET_RATE}`)?.median;
  if (at300) {
    out.push({
      label: `#10: ≥ ${TARGET_RATE} deliveries/s sustained (outbox rows offered at ${TARGET_RATE}/s)`,
      met: at300.rate >= TARGET_RATE * 0.97 && at300.missing === 0,
      detail: `${fmtRate(at300.rate)}/s delivered while offered ${TARGET_RATE}/s; ${at300.missing} missing after ${DRAIN_CAP_MS / 1000} s`,
    });
    out.push({
      label: `#10: event-to-receipt p99 < ${TARGET_P99_MS} ms at ${TARGET_RATE}/s`,
      met: at300.p99 < TARGET_P99_MS,
      detail: `p50 ${ms(at300.p50)} / p95 ${ms(at300.p95)} / p99 ${ms(at300.p99)} ms`,
    });
  }
  const backlog = summary.get('backlog')?.median;
  if (backlog) {
    out.push({
      label: `#10: saturation (backlog drain) ≥ ${TARGET_RATE} deliveries/s`,
      met: backlog.rate >= TARGET_RATE,
      detail: `${fmtRate(backlog.rate)}/s`,
    });
  }
  const iso = summary.get('isolation')?.median;
  const control = summary.get('sla-control')?.median;
  if (iso) {
    out.push({
      label: `#10: one endpoint failing 100 %: the other endpoints' p99 < ${TARGET_P99_MS} ms (at ${s.isolationRate}/s)`,
      met: iso.p99 < TARGET_P99_MS && iso.missing === 0,
      detail: `p99 ${ms(iso.p99)} ms (without the failing endpoint: ${ms(control?.p99 ?? Number.NaN)} ms); ${fmtRate(iso.rate)}/s delivered`,
    });
    if (iso.sla && control?.sla) {
      out.push({
        label: '#10: SLA timers on time with the failing endpoint (breach lateness p99 < 2 s, the #4 objective)',
        met: iso.sla.p99 < 2000 && iso.sla.missing === 0,
        detail: `p50 ${ms(iso.sla.p50)} / p99 ${ms(iso.sla.p99)} ms (without: p50 ${ms(control.sla.p50)} / p99 ${ms(control.sla.p99)} ms)`,
      });
    }
  }
  return out;
}

const ms = (v: number) => (Number.isNaN(v) ? '–' : Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(1));
const fmtRate = (v: number) => (Number.isNaN(v) ? '–' : v >= 100 ? v.toFixed(0) : v.toFixed(1));
const pctOf = (a: number, b: number) => (Number.isFinite(a / b) ? `${((a / b) * 100).toFixed(0)} %` : '–');

function describe(r: StepResult): string {
  const sla = r.sla ? `; SLA breaches n=${r.sla.n} missing ${r.sla.missing} p50 ${ms(r.sla.p50)} p99 ${ms(r.sla.p99)} ms` : '';
  const fail = r.failing ? `; failing endpoint: ${r.failing.attempts} attempts, ${r.failing.dead} dead, ${r.failing.outstanding} outstanding` : '';
  return (
    `${fmtRate(r.rate)}/s (offered ${fmtRate(r.offered)}), ${r.received}/${r.expected} received, p50 ${ms(r.p50)} p95 ${ms(r.p95)} ` +
    `p99 ${ms(r.p99)} max ${ms(r.max)} ms, drain ${ms(r.drainMs)} ms, skipped ${r.skipped}, duplicates ${r.duplicates}${sla}${fail}`
  );
}

function render(r: {
  machine: Machine;
  settings: Settings;
  summary: Summary;
  scenarios: { key: string; name: string }[];
  usage: { key: string; rows: { name: string; u: PhaseUsage | undefined }[]; db: { app: number; bench: number }; delivered: number }[];
  verdicts: Verdict[];
  badSignatures: number;
  loadAtEnd: string;
  minutes: number;
  slaStepS: number;
  payloadBytes: number;
}): string {
  const { machine: m, settings: s, summary } = r;
  const L: string[] = [];
  L.push(
    `_Generated by \`npm run bench:webhooks\` on ${m.date} (${r.minutes.toFixed(1)} min). Everything between the bench-webhooks markers is overwritten by the next run._`,
  );
  L.push('', '## Webhook delivery (issue #10)', '', '### Summary', '');
  L.push(
    table(
      ['target', 'result', 'detail'],
      r.verdicts.map((v) => [v.label, `**${v.met ? 'MET' : 'NOT MET'}**`, v.detail]),
    ),
  );
  L.push('');
  const A = summary.get('bare-one')?.median;
  const B = summary.get('bare-batch')?.median;
  const sat = summary.get('backlog')?.median;
  const at300 = summary.get(`outbox-${TARGET_RATE}`)?.median;
  if (A && B && sat) {
    L.push(
      `Ratios (median deliveries/s): Deskflow saturation / A (one workflow per delivery) **${pctOf(sat.rate, A.rate)}**, ` +
        `/ B (batched activities) **${pctOf(sat.rate, B.rate)}**` +
        (at300 ? `; Deskflow at ${TARGET_RATE}/s offered / A **${pctOf(at300.rate, A.rate)}**, / B **${pctOf(at300.rate, B.rate)}**.` : '.'),
      '',
    );
  }
  L.push(`Signatures checked at the receiver (node:crypto HMAC over id.timestamp.body with each endpoint's secret): **${r.badSignatures}** failed.`, '');

  L.push('### Machine', '');
  L.push(`- CPU: ${m.cpu}, ${m.cores} cores; RAM ${m.ramGiB} GiB; ${m.os}; Node.js ${m.node}`);
  L.push(`- PostgreSQL ${m.postgres}; Redis ${m.redis}; Temporal CLI: ${m.temporalCli}`);
  L.push(`- Code: ${m.code}`);
  L.push(`- Load average (1/5/15 min) at start: ${m.loadAverage}; at end: ${r.loadAtEnd}`);
  L.push('');
  L.push('### Parameters', '');
  L.push(
    `BENCH_WH_ROUNDS=${s.rounds} BENCH_WH_STEP_SECONDS=${s.stepS} BENCH_WH_RATES=${s.rates.join(',')} BENCH_WH_ENDPOINTS=${s.endpoints} ` +
      `BENCH_WH_BACKLOG=${s.backlog} BENCH_WH_BARE_RATE=${s.bareRate} BENCH_WH_BARE_OUTSTANDING=${s.bareOutstanding} ` +
      `BENCH_WH_BATCH_WORKFLOWS=${s.batchWorkflows} BENCH_WH_BATCH_SIZE=${s.batchSize} BENCH_WH_E2E_RATE=${s.e2eRate} ` +
      `BENCH_WH_ISOLATION_RATE=${s.isolationRate} BENCH_WH_SLA_TICKETS=${s.slaTickets} BENCH_WH_SLA_TARGET_SECONDS=${s.slaTargetS}`,
  );
  const dispatch = ['WEBHOOK_DISPATCH_INTERVAL', 'WEBHOOK_DISPATCH_CONCURRENCY', 'WEBHOOK_ENDPOINT_CONCURRENCY', 'DATABASE_POOL_MAX']
    .map((k) => `${k}=${process.env[k] ?? (k === 'DATABASE_POOL_MAX' ? '20' : '(default)')}`)
    .join(' ');
  L.push('', `Worker: ${dispatch}; everything else at its default (WEBHOOK_MAX_RETRIES=3, WEBHOOK_TIMEOUT=10 s).`, '');

  L.push('### Method', '');
  for (const line of [
    'One machine, loopback only, one run: a Temporal dev server (in memory, headless), a scratch PostgreSQL database migrated as the owner, a Redis key prefix, the real worker (`workers/main.ts`: the dispatcher and the webhook backoff worker) and the real API (`api/main.ts`), NODE_ENV=production, LOG_LEVEL=warn, the least-privilege database role, WEBHOOK_ALLOW_LOOPBACK=true; and the baselines’ worker (`bench/baselines/webhook-worker.ts`, its own task queue, SDK default slots). All removed at the end. The load generator and the receiver (one node:http server answering at once, every request a fresh connection as the dispatcher makes them) run in the bench process.',
    `Endpoints: ${s.endpoints} created through POST /api/v1/webhook-endpoints (SSRF check, secret generated and stored encrypted), each at its own path of the receiver; the receiver checks every Deskflow signature. One more endpoint (/fail, answering 500) is enabled only during the isolation scenario (disabled otherwise, so its deliveries are \`held\` as the projection writes them for a paused endpoint).`,
    `**Outbox rows** (the Deskflow rate steps, the backlog, the SLA and isolation scenarios): the bench writes the outbox directly, at a stated rate, with the projection’s own fan-out SQL (one statement: the \`webhook_events\` row and one \`webhook_deliveries\` row per live endpoint, pending, due at once), as the owner; the body is the real \`ticket.created\` payload of a probe ticket (retyped \`ticket.updated\`, ${r.payloadBytes} bytes), one new ticket id per event. This is what the projection commits for a ticket change, without the cost of making the change (ticket creation through the API tops out near 40/s on this machine: see the other sections), so the dispatcher can be offered 300+/s. **End to end**: POST /api/v1/tickets, open loop; the workflow’s projection writes the events and deliveries; nothing is inserted by the bench.`,
    `Open loop: an operation is started every 1/rate s whether or not earlier ones finished (events at rate ÷ ${s.endpoints} per second, each fanning out to ${s.endpoints} deliveries); each step lasts ${s.stepS} s, then its deliveries get up to ${DRAIN_CAP_MS / 1000} s to arrive (the rest are counted missing). **delivered/s** = first receipts of the step’s deliveries whose time falls in the load window after its first second ÷ that window; **backlog**: ${s.backlog} deliveries committed in one transaction, rate = receipts between the 5th and 95th percentile of their times ÷ that time (the dispatcher’s capacity).`,
    '**Latency**: Deskflow = first receipt at the receiver − the event’s `webhook_events.created_at` (the transaction time of the statement that committed it: the projection’s, or the bench’s insert); A = receipt − the instant the open loop scheduled the workflow start; B = receipt − the instant all batch workflows were started. Nearest-rank percentiles over every delivery of a step.',
    `**A**: \`bareWebhookOne\`, one workflow (fresh id) per delivery whose one activity POSTs the same body (fresh connection, \`webhook-id\` header, no signature, no database); started open-loop at ${s.bareRate}/s with at most ${s.bareOutstanding} outstanding (a start that finds them all outstanding is skipped: offered above capacity, the figure is its capacity). **B**: ${s.batchWorkflows} workflows of ${s.batchSize} activities started at once (Promise.all inside the workflow); rate = deliveries ÷ (last receipt − start).`,
    `**SLA control / isolation**: outbox rows at ${s.isolationRate} good deliveries/s for ${r.slaStepS} s while ${s.slaTickets} \`high\` tickets are created through the API in the first ~6 s under an SLA policy whose first reply is due after ${s.slaTargetS} s, so every breach fires during the load; their lateness is the breach event’s \`data.lateness_ms\` (workflow clock − due, as in bench/sla-timers.ts). In isolation the /fail endpoint receives every event too: first attempts by the dispatcher and backoff workflows for the failures until its circuit breaker opens (≥ 70 % of ≥ 10 attempts in 5 min) and holds the rest without attempts (the breaker is reset to closed at the start of every isolation step, so each round measures the trip); after the load the run waits (≤ 30 s) for its retrying deliveries to end before the next step. The good endpoints’ figures cover only their own deliveries (the API-created tickets’ deliveries included).`,
    `Every figure in the tables is the median of that figure over ${s.rounds} rounds (missing, duplicates and skipped are totals). Each round runs the scenarios in the order of the table, after a warm-up (3 s at 100/s, 20 bare workflows). CPU: /proc of each process tree sampled every second, per scenario over all rounds (100 % = one core).`,
  ])
    L.push(`- ${line}`);
  L.push('');

  L.push('### Results (medians over rounds)', '');
  L.push(
    table(
      ['scenario', 'offered/s', 'delivered/s', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'received', 'missing', 'dupl.', 'drain ms'],
      r.scenarios.map((sc) => {
        const x = summary.get(sc.key)!.median;
        return [
          sc.name,
          fmtRate(x.offered),
          `**${fmtRate(x.rate)}**`,
          ms(x.p50),
          ms(x.p95),
          ms(x.p99),
          ms(x.max),
          String(x.received),
          String(x.missing),
          String(x.duplicates),
          ms(x.drainMs),
        ];
      }),
    ),
  );
  L.push('');
  const sla = r.scenarios.filter((sc) => summary.get(sc.key)?.median.sla);
  if (sla.length) {
    L.push('SLA breach lateness during the load (workflow clock − due, ms):', '');
    L.push(
      table(
        ['scenario', 'breaches', 'missing', 'p50', 'p99', 'max', 'failing endpoint: attempts / dead / still outstanding'],
        sla.map((sc) => {
          const x = summary.get(sc.key)!.median;
          const f = x.failing ? `${x.failing.attempts} / ${x.failing.dead} / ${x.failing.outstanding}` : '–';
          return [sc.name, String(x.sla!.n), String(x.sla!.missing), ms(x.sla!.p50), ms(x.sla!.p99), ms(x.sla!.max), f];
        }),
      ),
    );
    L.push('');
  }
  L.push('### Every round', '');
  L.push(
    table(
      ['scenario', 'round', 'delivered/s', 'p50 ms', 'p99 ms', 'received / expected', 'skipped', 'SLA p99 ms'],
      r.scenarios.flatMap((sc) =>
        summary
          .get(sc.key)!
          .rounds.map((x, i) => [
            sc.key,
            String(i + 1),
            fmtRate(x.rate),
            ms(x.p50),
            ms(x.p99),
            `${x.received} / ${x.expected}`,
            String(x.skipped),
            x.sla ? ms(x.sla.p99) : '–',
          ]),
      ),
      2,
    ),
  );
  L.push('');
  L.push('### CPU by scenario', '');
  L.push(
    'Average % of one core over the scenario’s time in all rounds (its drain included), per process tree; **pg app** = CPU of the scratch ' +
      'database’s backends of the application role (the worker’s and the API’s queries), **pg bench** = its owner-role backends (the ' +
      'bench’s outbox inserts and its polling). **CPU ms / delivery** = CPU seconds of the system under test (Deskflow: worker + API + ' +
      'Temporal dev server + pg app; baselines: bare worker + Temporal dev server) ÷ deliveries received: the cost of one delivery, ' +
      'which does not depend on how busy the machine was; 2 cores ÷ it bounds the rate this machine could reach with nothing else running.',
    '',
  );
  const names = r.usage[0]?.rows.map((x) => x.name) ?? [];
  const cpuS = (u: (typeof r.usage)[number], name: string) => {
    const x = u.rows.find((y) => y.name === name)?.u;
    return x ? x.cpuSeconds : 0;
  };
  const seconds = (u: (typeof r.usage)[number]) => u.rows.find((y) => y.u)?.u?.seconds ?? Number.NaN;
  L.push(
    table(
      ['scenario', ...names, 'pg app', 'pg bench', 'CPU ms / delivery', '2 cores ÷ that (deliveries/s)'],
      r.usage.map((u) => {
        const bare = u.key.startsWith('bare-');
        const sut = bare
          ? cpuS(u, 'bare worker') + cpuS(u, 'temporal dev server')
          : cpuS(u, 'worker') + cpuS(u, 'api') + cpuS(u, 'temporal dev server') + u.db.app;
        const perDelivery = (sut * 1000) / u.delivered;
        return [
          u.key,
          ...u.rows.map((x) => (x.u ? x.u.avgCpuPct.toFixed(0) : '–')),
          ((u.db.app / seconds(u)) * 100).toFixed(0),
          ((u.db.bench / seconds(u)) * 100).toFixed(0),
          perDelivery.toFixed(2),
          fmtRate(2000 / perDelivery),
        ];
      }),
    ),
  );
  return L.join('\n').trimEnd();
}

runBench(TAG, main, readSettings().timeoutS * 1000);
