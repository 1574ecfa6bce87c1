/**
 * `npm run bench:live` (issue #11): the live-updates WebSocket endpoint (`/api/v1/live`) of the real API, fed by the
 * real worker's projection through the live bus, against a bare `ws` server (bench/baselines/live-broadcast.ts:
 * accepts every connection, broadcasts what it is told, no auth), in one run on this machine, loopback only.
 *
 * Starts a Temporal dev server (in memory), a scratch database migrated as the owner, a Redis key prefix, the real
 * worker and the real API (NODE_ENV=production, LOG_LEVEL=warn, LIVE_MAX_CONNECTIONS_PER_USER raised so that the
 * bench's agents may hold BENCH_LIVE_CONNECTIONS between them) and the bare server. The WebSocket clients live in
 * this process. Each round, on each side (Deskflow and bare, their order alternating by round):
 *
 *  1. **connections**: RSS of the server process (/proc VmRSS) idle, then with BENCH_LIVE_CONNECTIONS open sockets
 *     (Deskflow: each authenticated with `Authorization: Bearer` of one of BENCH_LIVE_USERS agents, one per agent
 *     first, then round-robin; open = the `ready` message received);
 *  2. **fan-out**: down to BENCH_LIVE_SUBSCRIBERS sockets, BENCH_LIVE_EVENTS events BENCH_LIVE_EVENT_GAP_MS apart;
 *     latency = receipt at each socket − publish. Deskflow twice: (bus) `publishLiveEvent` straight on the live bus,
 *     and (REST) POST /api/v1/tickets → workflow → projection → bus (receipt of its ticket.created − the POST's send);
 *     bare: POST /broadcast to the bare server;
 *  3. **peak**: down to one socket per agent; POST /api/v1/tickets/:id/messages open-loop at each of BENCH_LIVE_RATES
 *     messages/s for BENCH_LIVE_STEP_SECONDS (agents and tickets round-robin); latency = receipt of its
 *     ticket.message_added at another agent's socket (BENCH_LIVE_OBSERVERS agents' sockets record) − the POST's send.
 *     Bare: POST /broadcast of a message-sized frame at the highest rate to as many sockets.
 *
 * Every figure is the median over rounds. Writes the section between `<!-- bench-live:begin -->` and
 * `<!-- bench-live:end -->` of bench/RESULTS.md (not in a quick or partial run) and prints it.
 *
 * Env: BENCH_LIVE_ROUNDS (3), BENCH_LIVE_CONNECTIONS (10000), BENCH_LIVE_USERS (500), BENCH_LIVE_SUBSCRIBERS (1000),
 *      BENCH_LIVE_EVENTS (20), BENCH_LIVE_EVENT_GAP_MS (200), BENCH_LIVE_RATES (25,50,100,417), BENCH_LIVE_STEP_SECONDS (8),
 *      BENCH_LIVE_TICKETS (100), BENCH_LIVE_OBSERVERS (20), BENCH_LIVE_MAX_IN_FLIGHT (300), BENCH_LIVE_OPEN_CONCURRENCY (200),
 *      BENCH_LIVE_ONLY (comma-separated of connections, fanout, peak: a partial run), BENCH_LIVE_QUICK=1 (small defaults:
 *      1 round, 2000 connections, 200 users and subscribers, rates 10,25 for 4 s; a smoke test), BENCH_LIVE_TIMEOUT_SECONDS
 *      (watchdog, 900), BENCH_STRICT=1 (exit 1 when a target is missed), DATABASE_URL / DATABASE_ADMIN_URL / REDIS_URL.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket } from 'ws';
import type { LiveEnvelope } from '../domain/live';
import { LIVE_PROTOCOL } from '../api/live/server';
import { createFieldCrypto } from '../platform/field-crypto';
import { type LiveRecord, liveWindowOf, publishLiveEvent } from '../platform/live-bus';
import { hashPassword } from '../platform/passwords';
import { createRedis } from '../platform/redis';
import { customerStore } from '../stores/customers';
import { freePort } from '../test/support/processes';
import { operatorOf } from '../test/support/stack';
import { type Cleanup, numberEnv, requireServices, runBench, writeSection } from './lib/harness';
import { openLoop, postJson } from './lib/load';
import { describeMachine, loadAverage, type Machine } from './lib/machine';
import { type PhaseUsage, ProcSampler, readRssKiB } from './lib/proc-sampler';
import { table } from './lib/report';
import { scratchNames, startScratch } from './lib/scratch';
import { BENCH_RUNTIME_NOTE, serviceGroup, waitForHttp } from './lib/services';
import { latencyFigures, median, rateWithin } from './lib/stats';
import pg from 'pg';

const TAG = 'bench-live';
const RESULTS_FILE = path.join(__dirname, 'RESULTS.md');
const BEGIN = '<!-- bench-live:begin -->';
const END = '<!-- bench-live:end -->';
const PREAMBLE = '# Deskflow benchmark results\n\n';
const WORKER_READY = "state: 'RUNNING'";
/** The issue's 400 MB, in bytes (400 MB = 381.5 MiB: RSS is read in KiB and shown in MiB). */
const TARGET_RSS_BYTES = 400e6;
const TARGET_RSS_MIB = TARGET_RSS_BYTES / 2 ** 20;
const TARGET_FANOUT_P99_MS = 100;
const TARGET_PEAK_P95_MS = 200;
/** The brief's peak: 500 agents × 50 messages/min. */
const PEAK_RATE = (500 * 50) / 60;
/** After a step's load ends, its messages get this long to arrive (then the missing ones are counted). */
const DRAIN_CAP_MS = 10_000;
/** Receipts in the first second of a step are left out of its rate (the pipeline filling). */
const RAMP_MS = 1000;
/** Connections settle this long (handshakes, presence, GC) before RSS is read. */
const SETTLE_MS = 3000;

const log = (msg: string) => console.log(`[${TAG}] ${msg}`);
/** Epoch ms with sub-millisecond resolution (one clock for sends and receipts, both in this process). */
const now = () => performance.timeOrigin + performance.now();

type Scenario = 'connections' | 'fanout' | 'peak';
const SCENARIOS: Scenario[] = ['connections', 'fanout', 'peak'];

interface Settings {
  quick: boolean;
  only: Scenario[];
  rounds: number;
  connections: number;
  users: number;
  subscribers: number;
  events: number;
  eventGapMs: number;
  rates: number[];
  stepS: number;
  tickets: number;
  observers: number;
  maxInFlight: number;
  openConcurrency: number;
  timeoutS: number;
}

function readSettings(): Settings {
  const quick = process.env.BENCH_LIVE_QUICK === '1';
  const rates = (process.env.BENCH_LIVE_RATES ?? (quick ? '10,25' : `25,50,100,${Math.round(PEAK_RATE)}`)).split(',').map((r) => Number(r.trim()));
  if (rates.some((r) => !Number.isFinite(r) || r <= 0 || r > 2000))
    throw new Error(`BENCH_LIVE_RATES=${process.env.BENCH_LIVE_RATES}: expected rates in (0, 2000]`);
  const only = (process.env.BENCH_LIVE_ONLY ?? '').split(',').filter(Boolean) as Scenario[];
  const unknown = only.filter((k) => !SCENARIOS.includes(k));
  if (unknown.length) throw new Error(`BENCH_LIVE_ONLY: no scenario ${unknown.join(', ')} (known: ${SCENARIOS.join(', ')})`);
  const s: Settings = {
    quick,
    only,
    rounds: numberEnv('BENCH_LIVE_ROUNDS', quick ? 1 : 3, { max: 10 }),
    connections: numberEnv('BENCH_LIVE_CONNECTIONS', quick ? 2000 : 10_000, { min: 10, max: 50_000 }),
    users: numberEnv('BENCH_LIVE_USERS', quick ? 200 : 500, { min: 2, max: 2000 }),
    subscribers: numberEnv('BENCH_LIVE_SUBSCRIBERS', quick ? 200 : 1000, { min: 2, max: 50_000 }),
    events: numberEnv('BENCH_LIVE_EVENTS', quick ? 10 : 20, { max: 500 }),
    eventGapMs: numberEnv('BENCH_LIVE_EVENT_GAP_MS', 200, { min: 10, max: 5000 }),
    rates,
    stepS: numberEnv('BENCH_LIVE_STEP_SECONDS', quick ? 4 : 8, { integer: false, min: 2, max: 120 }),
    tickets: numberEnv('BENCH_LIVE_TICKETS', quick ? 20 : 100, { max: 2000 }),
    observers: numberEnv('BENCH_LIVE_OBSERVERS', 20, { min: 2, max: 500 }),
    maxInFlight: numberEnv('BENCH_LIVE_MAX_IN_FLIGHT', 300, { max: 5000 }),
    openConcurrency: numberEnv('BENCH_LIVE_OPEN_CONCURRENCY', 200, { max: 2000 }),
    timeoutS: numberEnv('BENCH_LIVE_TIMEOUT_SECONDS', 900, { min: 60 }),
  };
  if (s.subscribers > s.connections) throw new Error('BENCH_LIVE_SUBSCRIBERS must not exceed BENCH_LIVE_CONNECTIONS');
  if (s.users > s.subscribers) throw new Error('BENCH_LIVE_USERS must not exceed BENCH_LIVE_SUBSCRIBERS (one socket per agent stays open for the peak)');
  if (s.observers > s.users) throw new Error('BENCH_LIVE_OBSERVERS must not exceed BENCH_LIVE_USERS');
  return s;
}

const runs = (s: Settings, sc: Scenario) => s.only.length === 0 || s.only.includes(sc);

/** The soft limit on open files of a process (Node raises its own to the hard limit at start-up). */
function openFilesLimit(pid: number | 'self'): number {
  try {
    const line = readFileSync(`/proc/${pid}/limits`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === 'unlimited' ? Number.POSITIVE_INFINITY : Number(soft);
  } catch {
    return Number.NaN;
  }
}

// ---- the client side -------------------------------------------------------------------------------------------------

type OnMessage = (index: number, data: Buffer, at: number) => void;

/**
 * The bench's WebSocket clients to one server. Socket `i` belongs to agent `i % users` (Deskflow), so the first
 * `users` sockets are one per agent. Each batch connects from its own loopback source address (127.0.0.x), so the
 * previous batch's TIME_WAIT ports never run short.
 */
class SocketPool {
  readonly sockets: WebSocket[] = [];
  onMessage: OnMessage = () => undefined;
  private static batch = 0;

  constructor(
    private readonly url: string,
    private readonly headersOf: (index: number) => Record<string, string>,
  ) {}

  get size(): number {
    return this.sockets.length;
  }

  /** Opens sockets up to `total`, `concurrency` handshakes at a time; resolves when each got its first message. */
  async openTo(total: number, concurrency: number): Promise<{ ms: number; errors: number; firstError?: string }> {
    const localAddress = `127.0.0.${2 + (SocketPool.batch++ % 250)}`;
    const started = now();
    let next = this.sockets.length;
    let errors = 0;
    let firstError: string | undefined;
    const one = (index: number) =>
      new Promise<WebSocket>((resolve, reject) => {
        const ws = new WebSocket(this.url, [LIVE_PROTOCOL], {
          headers: this.headersOf(index),
          localAddress,
          perMessageDeflate: false,
          handshakeTimeout: 30_000,
        });
        ws.once('message', () => {
          ws.on('message', (data: Buffer) => this.onMessage(index, data, now()));
          resolve(ws);
        });
        ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode} on upgrade`)));
        ws.once('close', (code, reason) => reject(new Error(`closed ${code} ${reason.toString()}`)));
        ws.on('error', (err) => reject(err));
      });
    const slots: (WebSocket | undefined)[] = [];
    const worker = async () => {
      while (next < total) {
        const index = next++;
        try {
          slots[index] = await one(index);
        } catch (err) {
          errors++;
          firstError ??= (err as Error).message;
        }
      }
    };
    const from = this.sockets.length;
    await Promise.all(Array.from({ length: concurrency }, worker));
    for (let i = from; i < total; i++) {
      const ws = slots[i];
      if (ws) this.sockets.push(ws);
    }
    if (errors > 0) log(`${errors} of ${total - from} sockets failed to open (first: ${firstError})`);
    return { ms: now() - started, errors, ...(firstError === undefined ? {} : { firstError }) };
  }

  /** Closes every socket past the first `keep` (a clean close; cut off after 10 s). */
  async closeFrom(keep: number): Promise<void> {
    const closing = this.sockets.splice(keep);
    await Promise.all(
      closing.map(
        (ws) =>
          new Promise<void>((resolve) => {
            if (ws.readyState === WebSocket.CLOSED) return resolve();
            const timer = setTimeout(() => {
              ws.terminate();
              resolve();
            }, 10_000);
            ws.once('close', () => {
              clearTimeout(timer);
              resolve();
            });
            ws.close(1000);
          }),
      ),
    );
  }

  /** Sockets closed by the server (they should all stay open). */
  closedCount(): number {
    return this.sockets.filter((ws) => ws.readyState !== WebSocket.OPEN).length;
  }
}

interface ParsedEvent {
  type: 'event';
  event: LiveEnvelope;
}

function eventOf(data: Buffer): ParsedEvent | undefined {
  const m = JSON.parse(data.toString('utf8')) as { type: string };
  return m.type === 'event' ? (m as ParsedEvent) : undefined;
}

// ---- figures ------------------------------------------------------------------------------------------------------------

interface ConnResult {
  idleMiB: number;
  heldMiB: number;
  /** (held − idle) ÷ connections, KiB. */
  perConnKiB: number;
  opened: number;
  openErrors: number;
  openS: number;
  /** Sockets the server closed while they were held. */
  dropped: number;
}

interface LatencyResult {
  /** Receipts expected (events × sockets) and received. */
  expected: number;
  received: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  /** REST only: receipt − the event's own `timestamp` (the change's occurred_at in the workflow). */
  fromEvent?: { p50: number; p99: number };
}

interface StepResult {
  offered: number;
  sent: number;
  errors: number;
  skipped: number;
  /** Messages with a receipt at another agent's socket, per second of the load window (after its first second). */
  rate: number;
  missing: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  /** The POSTs' own response time. */
  postP50: number;
  postP99: number;
  firstError?: string;
}

const latencyResult = (latencies: number[], expected: number): LatencyResult => ({ expected, received: latencies.length, ...latencyFigures(latencies) });

// ---- the run ------------------------------------------------------------------------------------------------------------

async function main(cleanup: Cleanup): Promise<number> {
  const s = readSettings();
  const scratch = scratchNames('live');
  const { base, runId, serverUrl, redisPrefix } = scratch;
  const benchStarted = Date.now();
  const perUser = Math.max(50, Math.ceil(s.connections / s.users));

  const files = openFilesLimit('self');
  // Node raises its soft limit to the hard one at start-up; the services inherit the same. Each process needs
  // a descriptor per socket plus its own (Redis, PostgreSQL, Temporal, files).
  if (files < s.connections + 500)
    throw new Error(`open files limit ${files} < BENCH_LIVE_CONNECTIONS + 500: raise the hard limit (ulimit -Hn) or lower BENCH_LIVE_CONNECTIONS`);
  log(
    `run ${runId}: ${s.rounds} round(s), ${s.connections} connections of ${s.users} agents, ${s.subscribers} subscribers, rates ${s.rates.join(', ')}/s × ${s.stepS} s; open files ${files}`,
  );
  await requireServices(serverUrl, base.REDIS_URL);
  const machine = await describeMachine(serverUrl, base.REDIS_URL);
  log(`machine: ${machine.cpu}, ${machine.cores} cores, ${machine.ramGiB} GiB, Node ${machine.node}, load ${machine.loadAverage}`);

  const { temporal, env, runConfig } = await startScratch(scratch, cleanup, log, s.timeoutS, {
    TEMPORAL_TASK_QUEUE: `bench-live-tickets-${runId}`,
    TEMPORAL_WEBHOOK_TASK_QUEUE: `bench-live-webhooks-${runId}`,
    LIVE_MAX_CONNECTIONS_PER_USER: String(perUser),
  });

  const admin = new pg.Pool({ connectionString: scratch.adminDatabaseUrl, max: 4 });
  cleanup.add('owner pool', () => admin.end());
  const tenantId = randomUUID();
  const password = randomBytes(18).toString('base64url');
  const tag = runId.replace(/_/g, '-');
  await admin.query('INSERT INTO tenants (id, name) VALUES ($1, $2)', [tenantId, 'Bench Live Inc']);
  // One argon2 hash for every bench user (the logins still verify one each); user 0 is the admin.
  const hash = await hashPassword(password);
  const { rows: users } = await admin.query<{ id: string; email: string }>(
    `INSERT INTO users (id, tenant_id, email, name, role, password_hash)
     SELECT gen_random_uuid(), $1, 'bench-' || g || '-' || $3 || '@bench.test', 'Bench agent ' || g, CASE WHEN g = 0 THEN 'admin' ELSE 'agent' END, $2
     FROM generate_series(0, $4) g ORDER BY g RETURNING id, email`,
    [tenantId, hash, tag, s.users],
  );
  const customer = await customerStore(admin, createFieldCrypto(runConfig)).create(operatorOf(tenantId), randomUUID(), {
    name: 'Bench Customer',
    email: `customer-${tag}@example.com`,
    phone: null,
    external_id: null,
  });

  const { start, assertAllRunning: health } = serviceGroup(env, cleanup);
  log('starting the worker, the API and the bare ws server…');
  const worker = start('worker', 'workers/main.ts');
  const apiPort = await freePort();
  const api = start('api', 'api/main.ts', { PORT: String(apiPort) });
  const barePort = await freePort();
  const bare = start('live-broadcast', 'bench/baselines/live-broadcast.ts', { PORT: String(barePort) });
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const bareUrl = `http://127.0.0.1:${barePort}`;
  await Promise.all([
    worker.waitForOutput(WORKER_READY, 90_000),
    waitForHttp(api, `${apiUrl}/readyz`, {}, 90_000),
    bare.waitForOutput('live-broadcast listening', 30_000),
  ]);
  const limits = { api: openFilesLimit(api.child.pid!), bare: openFilesLimit(bare.child.pid!) };
  if (!(Math.min(limits.api, limits.bare) >= s.connections + 500)) throw new Error(`open files limit of the servers too low: ${JSON.stringify(limits)}`);

  const agent = new http.Agent({ keepAlive: true, maxSockets: s.maxInFlight + 20 });
  cleanup.add('HTTP agent', async () => agent.destroy());
  const redis = createRedis({ REDIS_URL: base.REDIS_URL, REDIS_KEY_PREFIX: redisPrefix });
  cleanup.add('Redis client', async () => redis.disconnect());

  // ---- logins (argon2 verify each: bounded concurrency) ---------------------------------------------------------------
  log(`logging in ${users.length} users…`);
  const tokens: string[] = new Array(users.length);
  {
    const loginUrl = new URL('/api/v1/auth/login', apiUrl);
    let next = 0;
    const t0 = now();
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < users.length) {
          const i = next++;
          const body = (await postJson(agent, loginUrl, {}, JSON.stringify({ email: users[i]!.email, password }))) as { access_token: string };
          tokens[i] = body.access_token;
        }
      }),
    );
    log(`logged in ${users.length} users in ${((now() - t0) / 1000).toFixed(1)} s`);
  }
  const adminHeaders = { Authorization: `Bearer ${tokens[0]}`, Accept: 'application/json' };
  const agentTokens = tokens.slice(1); // socket i and poster i: agent i % users
  const post = (p: string, headers: Record<string, string>, body: unknown) => postJson(agent, new URL(p, apiUrl), headers, JSON.stringify(body));
  const createTicket = (subject: string) =>
    post('/api/v1/tickets', adminHeaders, { subject, description: 'Created by bench/live.ts.', customer_id: customer.id, priority: 'normal' }) as Promise<{
      id: string;
    }>;

  const liveUrl = `ws://127.0.0.1:${apiPort}/api/v1/live`;
  const deskflow = new SocketPool(liveUrl, (i) => ({ Authorization: `Bearer ${agentTokens[i % s.users]}` }));
  const bareWs = new SocketPool(`ws://127.0.0.1:${barePort}/`, () => ({}));
  cleanup.add('sockets', async () => {
    for (const ws of [...deskflow.sockets, ...bareWs.sockets]) ws.terminate();
  });

  // ---- payloads: real events, captured once -------------------------------------------------------------------------
  log(`creating ${s.tickets} tickets for the peak, capturing real event payloads…`);
  await deskflow.openTo(1, 1);
  const captured: { created?: string; message?: string } = {};
  deskflow.onMessage = (_i, data) => {
    const e = eventOf(data);
    if (e?.event.type === 'ticket.created') captured.created ??= data.toString('utf8');
    if (e?.event.type === 'ticket.message_added') captured.message ??= data.toString('utf8');
  };
  const tickets: string[] = [];
  {
    let next = 0;
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        while (next < s.tickets) {
          next++;
          tickets.push((await createTicket(`Bench live ticket ${next}`)).id);
        }
      }),
    );
  }
  await post(`/api/v1/tickets/${tickets[0]}/messages`, { ...adminHeaders, Authorization: `Bearer ${agentTokens[0]}` }, { body: 'Probe reply.' });
  for (let i = 0; i < 100 && !(captured.created && captured.message); i++) await sleep(100);
  if (!captured.created || !captured.message) throw new Error('no ticket.created / ticket.message_added event reached the probe socket');
  await deskflow.closeFrom(0);
  deskflow.onMessage = () => undefined;
  const createdEvent = (JSON.parse(captured.created) as ParsedEvent).event;
  const messageFrame = captured.message;
  log(`payloads: ticket.created frame ${Buffer.byteLength(captured.created)} bytes, ticket.message_added frame ${Buffer.byteLength(messageFrame)} bytes`);

  // ---- sampling ----------------------------------------------------------------------------------------------------
  const targets = [
    { name: 'api', pid: api.child.pid! },
    { name: 'worker', pid: worker.child.pid! },
    { name: 'temporal dev server', pid: temporal.process.pid! },
    { name: 'bare ws server', pid: bare.child.pid! },
    { name: 'bench (clients)', pid: process.pid },
  ];
  const sampler = ProcSampler.available() ? new ProcSampler(targets) : undefined;
  sampler?.start();
  cleanup.add('sampler', async () => sampler?.stop());
  const setPhase = (phase: string) => sampler?.setPhase(phase);
  const rssMiB = (pid: number) => readRssKiB(pid) / 1024;

  // ---- scenarios -----------------------------------------------------------------------------------------------------
  type Side = 'deskflow' | 'bare';
  const poolOf = (side: Side) => (side === 'deskflow' ? deskflow : bareWs);
  const pidOf = (side: Side) => (side === 'deskflow' ? api.child.pid! : bare.child.pid!);

  const connections = async (side: Side): Promise<ConnResult> => {
    const pool = poolOf(side);
    await sleep(SETTLE_MS);
    const idleMiB = rssMiB(pidOf(side));
    const opened = await pool.openTo(s.connections, s.openConcurrency);
    health();
    await sleep(SETTLE_MS);
    const heldMiB = rssMiB(pidOf(side));
    const n = pool.size;
    return {
      idleMiB,
      heldMiB,
      perConnKiB: ((heldMiB - idleMiB) * 1024) / n,
      opened: n,
      openErrors: opened.errors,
      openS: opened.ms / 1000,
      dropped: pool.closedCount(),
    };
  };

  /** `events` publishes `gap` ms apart; `publish(seq)` returns the send instant; receipts matched by `seqOf`. */
  const fanout = async (
    side: Side,
    publish: (seq: number) => Promise<void>,
    seqOf: (e: ParsedEvent) => string | undefined,
  ): Promise<{ receipts: Map<string, number[]>; stamps: Map<string, number[]>; sockets: number }> => {
    const pool = poolOf(side);
    const receipts = new Map<string, number[]>();
    const stamps = new Map<string, number[]>(); // receipt − event.timestamp (epoch ms), for the REST side
    pool.onMessage = (_i, data, at) => {
      const e = eventOf(data);
      const key = e && seqOf(e);
      if (key === undefined) return;
      const list = receipts.get(key) ?? [];
      list.push(at);
      receipts.set(key, list);
      const ts = Date.parse(e!.event.timestamp);
      if (Number.isFinite(ts)) {
        const st = stamps.get(key) ?? [];
        st.push(Date.now() - ts);
        stamps.set(key, st);
      }
    };
    const sends: Promise<void>[] = [];
    for (let seq = 0; seq < s.events; seq++) {
      health();
      sends.push(publish(seq));
      await sleep(s.eventGapMs);
    }
    await Promise.all(sends);
    const expected = s.events * pool.size;
    const until = Date.now() + 10_000;
    const count = () => [...receipts.values()].reduce((a, l) => a + l.length, 0);
    while (count() < expected && Date.now() < until) await sleep(100);
    pool.onMessage = () => undefined;
    return { receipts, stamps, sockets: pool.size };
  };

  const benchSeq = (e: ParsedEvent) => {
    const v = (e.event.data as { bench_seq?: unknown }).bench_seq;
    return typeof v === 'string' ? v : undefined;
  };
  const fanTicket = { id: tickets[0]!, status: 'open', assignee_id: null, group_id: null, was: null };
  let fanRun = 0;

  const fanoutBus = async (): Promise<LatencyResult> => {
    const run = fanRun++;
    const sentAt = new Map<string, number>();
    const r = await fanout(
      'deskflow',
      async (seq) => {
        const key = `bus-${run}-${seq}`;
        const record: LiveRecord = {
          audience: 'tickets',
          ticket: fanTicket,
          internal: false,
          event: { type: 'ticket.updated', timestamp: new Date().toISOString(), data: { ...createdEvent.data, bench_seq: key } },
        };
        sentAt.set(key, now());
        await publishLiveEvent(redis, tenantId, record, liveWindowOf(runConfig));
      },
      benchSeq,
    );
    const latencies = [...r.receipts].flatMap(([key, ats]) => ats.map((at) => at - sentAt.get(key)!));
    return latencyResult(latencies, s.events * r.sockets);
  };

  const fanoutRest = async (): Promise<LatencyResult> => {
    const run = fanRun++;
    const sentAt = new Map<string, number>(); // by ticket id, once the POST answered
    let failed = 0;
    const r = await fanout(
      'deskflow',
      async (seq) => {
        const t0 = now();
        try {
          const { id } = await createTicket(`Bench live fan-out ${run}-${seq}`);
          sentAt.set(id, t0);
        } catch {
          failed++;
        }
      },
      (e) => (e.event.type === 'ticket.created' ? String((e.event.data as { ticket_id?: unknown }).ticket_id) : undefined),
    );
    const latencies: number[] = [];
    const fromEvent: number[] = [];
    for (const [id, ats] of r.receipts) {
      const t0 = sentAt.get(id);
      if (t0 === undefined) continue;
      for (const at of ats) latencies.push(at - t0);
      fromEvent.push(...(r.stamps.get(id) ?? []));
    }
    if (failed) log(`${failed} fan-out ticket creations failed`);
    const f = latencyFigures(fromEvent);
    return { ...latencyResult(latencies, s.events * r.sockets), fromEvent: { p50: f.p50, p99: f.p99 } };
  };

  const broadcast = (body: string) => postJson(agent, new URL('/broadcast', bareUrl), {}, body);
  const barePayload = (key: string) =>
    JSON.stringify({
      type: 'event',
      id: '0-0',
      event: { type: 'ticket.updated', timestamp: new Date().toISOString(), data: { ...createdEvent.data, bench_seq: key } },
    });
  const fanoutBare = async (): Promise<LatencyResult> => {
    const run = fanRun++;
    const sentAt = new Map<string, number>();
    const r = await fanout(
      'bare',
      async (seq) => {
        const key = `bare-${run}-${seq}`;
        const body = barePayload(key);
        sentAt.set(key, now());
        await broadcast(body);
      },
      benchSeq,
    );
    const latencies = [...r.receipts].flatMap(([key, ats]) => ats.map((at) => at - sentAt.get(key)!));
    return latencyResult(latencies, s.events * r.sockets);
  };

  /** One open-loop step; `send(seq)` posts and returns the message key; receipts at observer sockets of other agents. */
  const peakStep = async (side: Side, rate: number, seconds: number): Promise<StepResult> => {
    const pool = poolOf(side);
    const sent = new Map<string, { at: number; poster: number }>();
    const receipts: { key: string; observer: number; at: number }[] = [];
    const postTimes: number[] = [];
    pool.onMessage = (i, data, at) => {
      if (i >= s.observers) return;
      const e = eventOf(data);
      if (!e) return;
      const d = e.event.data as { bench_seq?: string; message?: { id?: string } };
      const key = side === 'bare' ? d.bench_seq : e.event.type === 'ticket.message_added' ? d.message?.id : undefined;
      if (key) receipts.push({ key, observer: i, at });
    };
    let seq = 0;
    const messageUrlOf = (t: string) => new URL(`/api/v1/tickets/${t}/messages`, apiUrl);
    const load = await openLoop(
      rate,
      seconds,
      s.maxInFlight,
      async () => {
        const n = seq++;
        const poster = n % s.users;
        const t0 = now();
        if (side === 'bare') {
          const key = `peak-${n}-${t0}`;
          const body = messageFrame.replace('"data":{', `"data":{"bench_seq":"${key}",`);
          sent.set(key, { at: t0, poster: -1 });
          await broadcast(body);
        } else {
          const headers = { Authorization: `Bearer ${agentTokens[poster]}`, Accept: 'application/json' };
          const m = (await postJson(agent, messageUrlOf(tickets[n % tickets.length]!), headers, JSON.stringify({ body: `Bench live reply ${n}.` }))) as {
            id: string;
          };
          sent.set(m.id, { at: t0, poster });
        }
        postTimes.push(now() - t0);
      },
      health,
      { tolerateErrors: true },
    );
    // Wait for every sent message to reach at least one other agent's observer socket (bounded).
    const reached = () => {
      const seen = new Set<string>();
      for (const r of receipts) if (sent.get(r.key)?.poster !== r.observer) seen.add(r.key);
      return seen;
    };
    while (reached().size < sent.size && Date.now() < load.endedAt + DRAIN_CAP_MS) await sleep(200);
    pool.onMessage = () => undefined;
    const latencies: number[] = [];
    const first = new Map<string, number>();
    for (const r of receipts) {
      const m = sent.get(r.key);
      if (!m || m.poster === r.observer) continue;
      latencies.push(r.at - m.at);
      first.set(r.key, Math.min(first.get(r.key) ?? Number.POSITIVE_INFINITY, r.at));
    }
    const post = latencyFigures(postTimes);
    return {
      offered: rate,
      sent: sent.size,
      errors: load.errors,
      skipped: load.skipped,
      rate: rateWithin(first.values(), load.startedAt + RAMP_MS, load.endedAt),
      missing: sent.size - first.size,
      ...latencyFigures(latencies),
      postP50: post.p50,
      postP99: post.p99,
      ...(load.firstError === undefined ? {} : { firstError: load.firstError }),
    };
  };

  // ---- warm-up ---------------------------------------------------------------------------------------------------------
  setPhase('warm-up');
  log('warm-up: 50 sockets each side, 3 s of replies at 10/s, broadcasts…');
  await deskflow.openTo(Math.min(50, s.users), 50);
  await bareWs.openTo(50, 50);
  await peakStep('deskflow', 10, 3);
  await peakStep('bare', 10, 3);
  await deskflow.closeFrom(0);
  await bareWs.closeFrom(0);

  // ---- rounds ----------------------------------------------------------------------------------------------------------
  interface Round {
    order: Side[];
    conn: Partial<Record<Side, ConnResult>>;
    fan: { bus?: LatencyResult; rest?: LatencyResult; bare?: LatencyResult };
    peak: Map<string, StepResult>;
  }
  const rounds: Round[] = [];
  const topRate = Math.max(...s.rates);
  for (let round = 1; round <= s.rounds; round++) {
    const order: Side[] = round % 2 ? ['deskflow', 'bare'] : ['bare', 'deskflow'];
    const r: Round = { order, conn: {}, fan: {}, peak: new Map() };
    for (const side of order) {
      const pool = poolOf(side);
      const t0 = Date.now();
      if (runs(s, 'connections')) {
        setPhase(`${side}:connections`);
        r.conn[side] = await connections(side);
        const c = r.conn[side]!;
        log(
          `round ${round} ${side} connections: ${c.opened} open in ${c.openS.toFixed(1)} s (${c.openErrors} failed), RSS ${c.idleMiB.toFixed(0)} → ${c.heldMiB.toFixed(0)} MiB (${c.perConnKiB.toFixed(1)} KiB/conn), dropped ${c.dropped}`,
        );
      }
      if (runs(s, 'fanout')) {
        await pool.closeFrom(s.subscribers);
        await pool.openTo(s.subscribers, s.openConcurrency);
        setPhase(`${side}:fanout`);
        if (side === 'deskflow') {
          r.fan.bus = await fanoutBus();
          log(`round ${round} fan-out bus: ${describeLatency(r.fan.bus)}`);
          r.fan.rest = await fanoutRest();
          log(`round ${round} fan-out REST: ${describeLatency(r.fan.rest)}`);
        } else {
          r.fan.bare = await fanoutBare();
          log(`round ${round} fan-out bare: ${describeLatency(r.fan.bare)}`);
        }
      }
      if (runs(s, 'peak')) {
        await pool.closeFrom(s.users);
        await pool.openTo(s.users, s.openConcurrency);
        for (const rate of side === 'deskflow' ? s.rates : [topRate]) {
          setPhase(`${side}:peak-${rate}`);
          const x = await peakStep(side, rate, s.stepS);
          r.peak.set(`${side}-${rate}`, x);
          log(`round ${round} peak ${side} ${rate}/s (load ${loadAverage()}): ${describeStep(x)}`);
          setPhase('between');
          await sleep(1000);
        }
      }
      setPhase('between');
      await pool.closeFrom(0);
      log(`round ${round} ${side}: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    }
    rounds.push(r);
  }
  setPhase('end');
  sampler?.stop();

  const partial = s.quick || s.only.length > 0;
  const text = render({
    machine,
    settings: s,
    rounds,
    perUser,
    limits: { bench: files, ...limits },
    frameBytes: { created: Buffer.byteLength(captured.created), message: Buffer.byteLength(messageFrame) },
    usage: (phase) => targets.map((t) => ({ name: t.name, u: sampler?.summary(t.name, phase) })),
    loadAtEnd: loadAverage(),
    minutes: (Date.now() - benchStarted) / 60_000,
    partial,
  });
  console.log(`\n${text.text}\n`);
  log(`raw: ${JSON.stringify(rounds.map((r) => ({ ...r, peak: Object.fromEntries(r.peak) })))}`);
  if (partial) log('a quick or partial run (BENCH_LIVE_QUICK / BENCH_LIVE_ONLY): bench/RESULTS.md left as it was');
  else {
    writeSection(RESULTS_FILE, BEGIN, END, text.text, PREAMBLE);
    log(`section written to ${RESULTS_FILE}`);
  }
  return process.env.BENCH_STRICT === '1' && text.missed > 0 ? 1 : 0;
}

// ---- report ---------------------------------------------------------------------------------------------------------------

const ms = (v: number) => (Number.isNaN(v) ? '–' : Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(1));
const mib = (v: number) => (Number.isNaN(v) ? '–' : v.toFixed(0));
const fmtRate = (v: number) => (Number.isNaN(v) ? '–' : v >= 100 ? v.toFixed(0) : v.toFixed(1));
const ratio = (a: number, b: number) => (Number.isFinite(a / b) ? `${(a / b).toFixed(2)}×` : '–');

function describeLatency(x: LatencyResult): string {
  const ev = x.fromEvent ? `; from event.timestamp p50 ${ms(x.fromEvent.p50)} p99 ${ms(x.fromEvent.p99)} ms` : '';
  return `${x.received}/${x.expected} receipts, p50 ${ms(x.p50)} p95 ${ms(x.p95)} p99 ${ms(x.p99)} max ${ms(x.max)} ms${ev}`;
}

function describeStep(x: StepResult): string {
  return (
    `${fmtRate(x.rate)}/s delivered (offered ${fmtRate(x.offered)}), sent ${x.sent}, errors ${x.errors}, skipped ${x.skipped}, missing ${x.missing}, ` +
    `p50 ${ms(x.p50)} p95 ${ms(x.p95)} p99 ${ms(x.p99)} max ${ms(x.max)} ms; POST p50 ${ms(x.postP50)} p99 ${ms(x.postP99)} ms` +
    (x.firstError ? `; first error: ${x.firstError.slice(0, 160)}` : '')
  );
}

type RoundT = {
  order: ('deskflow' | 'bare')[];
  conn: Partial<Record<'deskflow' | 'bare', ConnResult>>;
  fan: { bus?: LatencyResult; rest?: LatencyResult; bare?: LatencyResult };
  peak: Map<string, StepResult>;
};

function medianOf<T>(items: (T | undefined)[], pick: (x: T) => number): number {
  return median(items.filter((x): x is T => x !== undefined).map(pick));
}

function render(r: {
  machine: Machine;
  settings: Settings;
  rounds: RoundT[];
  perUser: number;
  limits: { bench: number; api: number; bare: number };
  frameBytes: { created: number; message: number };
  usage: (phase: string) => { name: string; u: PhaseUsage | undefined }[];
  loadAtEnd: string;
  minutes: number;
  partial: boolean;
}): { text: string; missed: number } {
  const { machine: m, settings: s, rounds } = r;
  const topRate = Math.max(...s.rates);
  const conn = (side: 'deskflow' | 'bare', pick: (c: ConnResult) => number) =>
    medianOf(
      rounds.map((x) => x.conn[side]),
      pick,
    );
  const fan = (k: 'bus' | 'rest' | 'bare', pick: (c: LatencyResult) => number) =>
    medianOf(
      rounds.map((x) => x.fan[k]),
      pick,
    );
  const step = (key: string, pick: (c: StepResult) => number) =>
    medianOf(
      rounds.map((x) => x.peak.get(key)),
      pick,
    );

  const verdicts: { label: string; met: boolean; detail: string }[] = [];
  const ran = (sc: Scenario) => s.only.length === 0 || s.only.includes(sc);
  if (ran('connections')) {
    const held = conn('deskflow', (c) => c.heldMiB);
    const opened = conn('deskflow', (c) => c.opened);
    verdicts.push({
      label: `#11: ${s.connections} authenticated connections on one API node, RSS < 400 MB (${TARGET_RSS_MIB.toFixed(1)} MiB)`,
      met: held < TARGET_RSS_MIB && opened >= s.connections,
      detail:
        `API RSS ${mib(held)} MiB with ${fmtRate(opened)} open (idle ${mib(conn('deskflow', (c) => c.idleMiB))} MiB, ` +
        `${conn('deskflow', (c) => c.perConnKiB).toFixed(1)} KiB/connection); bare ws ${mib(conn('bare', (c) => c.heldMiB))} MiB ` +
        `(${conn('bare', (c) => c.perConnKiB).toFixed(1)} KiB/connection)`,
    });
  }
  if (ran('fanout')) {
    const p99 = fan('bus', (x) => x.p99);
    verdicts.push({
      label: `#11: one event to ${s.subscribers} subscribed agents, p99 < ${TARGET_FANOUT_P99_MS} ms (live bus → socket)`,
      met: p99 < TARGET_FANOUT_P99_MS && fan('bus', (x) => x.expected - x.received) === 0,
      detail:
        `bus p50 ${ms(fan('bus', (x) => x.p50))} / p99 ${ms(p99)} ms; REST (POST /tickets → socket) p50 ${ms(fan('rest', (x) => x.p50))} / p99 ` +
        `${ms(fan('rest', (x) => x.p99))} ms; bare ws p50 ${ms(fan('bare', (x) => x.p50))} / p99 ${ms(fan('bare', (x) => x.p99))} ms`,
    });
  }
  if (ran('peak')) {
    const key = `deskflow-${topRate}`;
    const p95 = step(key, (x) => x.p95);
    const rate = step(key, (x) => x.rate);
    verdicts.push({
      label: `#11: peak (${s.users} agents, ${fmtRate(topRate)} messages/s offered) end-to-end p95 < ${TARGET_PEAK_P95_MS} ms`,
      met: p95 < TARGET_PEAK_P95_MS && rate >= topRate * 0.97,
      detail: `delivered ${fmtRate(rate)}/s of ${fmtRate(topRate)} offered; p50 ${ms(step(key, (x) => x.p50))} / p95 ${ms(p95)} / p99 ${ms(step(key, (x) => x.p99))} ms; bare ws at the same rate p95 ${ms(step(`bare-${topRate}`, (x) => x.p95))} ms`,
    });
  }

  const L: string[] = [];
  L.push(
    `_Generated by \`npm run bench:live\` on ${m.date} (${r.minutes.toFixed(1)} min). Everything between the bench-live markers is overwritten by the next run._`,
  );
  L.push('', '## Live updates over WebSocket (issue #11)', '');
  if (r.partial) L.push('> ⚠ A quick or partial run: a smoke test of the harness, not a measurement.', '');
  L.push('### Summary', '');
  L.push(
    table(
      ['target', 'result', 'detail'],
      verdicts.map((v) => [v.label, `**${v.met ? 'MET' : 'NOT MET'}**`, v.detail]),
    ),
  );
  L.push('');
  const ratios: string[] = [];
  if (ran('connections'))
    ratios.push(
      `RSS with ${s.connections} connections, Deskflow / bare **${ratio(
        conn('deskflow', (c) => c.heldMiB),
        conn('bare', (c) => c.heldMiB),
      )}**; ` +
        `memory per connection **${ratio(
          conn('deskflow', (c) => c.perConnKiB),
          conn('bare', (c) => c.perConnKiB),
        )}**`,
    );
  if (ran('fanout'))
    ratios.push(
      `fan-out p99, bus / bare **${ratio(
        fan('bus', (x) => x.p99),
        fan('bare', (x) => x.p99),
      )}**, REST / bare **${ratio(
        fan('rest', (x) => x.p99),
        fan('bare', (x) => x.p99),
      )}**`,
    );
  if (ran('peak'))
    ratios.push(
      `peak p95 at ${fmtRate(topRate)}/s, Deskflow / bare **${ratio(
        step(`deskflow-${topRate}`, (x) => x.p95),
        step(`bare-${topRate}`, (x) => x.p95),
      )}**; delivered rate Deskflow / bare **${ratio(
        step(`deskflow-${topRate}`, (x) => x.rate),
        step(`bare-${topRate}`, (x) => x.rate),
      )}**`,
    );
  if (ratios.length) L.push(`Ratios (medians over rounds): ${ratios.join('; ')}.`, '');

  L.push('### Machine', '');
  L.push(`- CPU: ${m.cpu}, ${m.cores} cores; RAM ${m.ramGiB} GiB; ${m.os}; Node.js ${m.node}`);
  L.push(`- PostgreSQL ${m.postgres}; Redis ${m.redis}; Temporal CLI: ${m.temporalCli}`);
  L.push(`- Code: ${m.code}`);
  L.push(`- Load average (1/5/15 min) at start: ${m.loadAverage}; at end: ${r.loadAtEnd}`);
  L.push(`- Open files (soft limit): bench ${r.limits.bench}, API ${r.limits.api}, bare server ${r.limits.bare}`);
  L.push('');
  L.push('### Parameters', '');
  L.push(
    `BENCH_LIVE_ROUNDS=${s.rounds} BENCH_LIVE_CONNECTIONS=${s.connections} BENCH_LIVE_USERS=${s.users} BENCH_LIVE_SUBSCRIBERS=${s.subscribers} ` +
      `BENCH_LIVE_EVENTS=${s.events} BENCH_LIVE_EVENT_GAP_MS=${s.eventGapMs} BENCH_LIVE_RATES=${s.rates.join(',')} BENCH_LIVE_STEP_SECONDS=${s.stepS} ` +
      `BENCH_LIVE_TICKETS=${s.tickets} BENCH_LIVE_OBSERVERS=${s.observers} BENCH_LIVE_MAX_IN_FLIGHT=${s.maxInFlight} BENCH_LIVE_OPEN_CONCURRENCY=${s.openConcurrency}` +
      (s.only.length ? ` BENCH_LIVE_ONLY=${s.only.join(',')}` : ''),
  );
  L.push(
    '',
    `API: LIVE_MAX_CONNECTIONS_PER_USER=${r.perUser} (the default is 10; the bench's ${s.users} agents hold ${s.connections} sockets); every other LIVE_* at its default.`,
    '',
  );

  L.push('### Method', '');
  for (const line of [
    'One machine, loopback only, one run: a Temporal dev server (in memory, headless), a scratch PostgreSQL database migrated as the owner, a Redis key prefix, the real worker (`workers/main.ts`: the projection publishes each ticket event on the live bus) and the real API (`api/main.ts`: `/api/v1/live` on its HTTP server), NODE_ENV=production, LOG_LEVEL=warn, the least-privilege database role; and the bare baseline `bench/baselines/live-broadcast.ts` (a `ws` server, no auth, no Redis: sends what it is POSTed on /broadcast to every open socket). All removed at the end. ' +
      BENCH_RUNTIME_NOTE,
    `Clients: the \`ws\` library in the bench process, no compression (as the server), each socket answering pings. Deskflow sockets authenticate with \`Authorization: Bearer\` of one of ${s.users} agent users of one tenant (created with one argon2 hash, each logged in once over POST /api/v1/auth/login, 4 at a time); socket i belongs to agent i mod ${s.users}, so the first ${s.users} sockets are one per agent (each agent's first socket announces it online to those open; the rest change nothing). A socket is open when its first message (\`ready\`) arrived; ${s.openConcurrency} handshakes at a time; each batch from its own 127.0.0.x source address. Open files: Node raises its soft limit to the hard limit at start-up, and the API and the bare server inherit it (read from /proc/<pid>/limits, above); the run refuses to start when it is below connections + 500.`,
    `**Connections**: RSS (VmRSS from /proc/<pid>/status) of the API process (Deskflow) or the bare server, ${SETTLE_MS / 1000} s after the previous phase (idle, no socket) and ${SETTLE_MS / 1000} s after the last of ${s.connections} sockets opened (held). Per connection = (held − idle) ÷ connections. The API's idle RSS is after the warm-up and the earlier rounds (V8 keeps what it grew).`,
    `**Fan-out**: sockets closed down to ${s.subscribers} (each receives every event of the tenant: no queue filter), then ${s.events} events ${s.eventGapMs} ms apart. *bus*: \`publishLiveEvent\` (platform/live-bus.ts, the projection's own call) from the bench, a \`ticket.updated\` record whose data is the real ticket.created payload plus a sequence key; latency = receipt at each socket − the instant before the publish call. *REST*: POST /api/v1/tickets (one ticket each) → workflow → projection → bus; latency = receipt of its ticket.created − the instant the POST was sent (also shown: receipt − the event's own \`timestamp\`, the change's occurred_at in the workflow, ms resolution). *bare*: POST /broadcast of the same frame (${r.frameBytes.created} bytes); latency = receipt − the instant the POST was sent. Nearest-rank percentiles over every receipt of every event (events × sockets), medians over rounds. Receipt times are taken as the bench's event loop reads each socket, so the last of ${s.subscribers} sockets read in a batch carries the bench's own reading time (the same on both sides).`,
    `**Peak**: sockets closed down to one per agent (${s.users}); POST /api/v1/tickets/:id/messages (a public reply, workflow update → projection → bus → every agent's socket), open loop at each rate for ${s.stepS} s, agent n mod ${s.users} posting on ticket n mod ${s.tickets} (${s.tickets} tickets created at set-up), at most ${s.maxInFlight} POSTs in flight (a start that finds them all in flight is skipped and counted: offered above capacity, the delivered rate is the capacity). Latency = receipt of the ticket.message_added event at the socket of another agent − the instant the POST was sent; the first ${s.observers} agents' sockets record (the others read and drop), so each message gives ${s.observers - 1}–${s.observers} receipts. **delivered/s** = messages first received in the load window after its first second ÷ that window; messages not received ${DRAIN_CAP_MS / 1000} s after the load are missing. Bare: POST /broadcast at ${fmtRate(topRate)}/s of a ticket.message_added frame (${r.frameBytes.message} bytes) to ${s.users} sockets, same measure. The brief's peak is 500 agents × 50 messages/min = ${fmtRate(PEAK_RATE)}/s.`,
    `Every figure in the tables is the median of that figure over ${s.rounds} round(s); each round measures Deskflow then bare (odd rounds) or bare then Deskflow (even rounds), after a warm-up (50 sockets each side, 3 s of replies/broadcasts at 10/s). CPU: /proc of each process tree sampled every second, per phase over all rounds (100 % = one core).`,
  ])
    L.push(`- ${line}`);
  L.push('');

  L.push('### Results (medians over rounds)', '');
  if (ran('connections')) {
    L.push(
      table(
        ['connections', 'open', 'failed to open', 'open time s', 'idle RSS MiB', 'held RSS MiB', 'KiB / connection', 'dropped'],
        (['deskflow', 'bare'] as const).map((side) => [
          side === 'deskflow' ? 'Deskflow API' : 'bare ws',
          fmtRate(conn(side, (c) => c.opened)),
          fmtRate(conn(side, (c) => c.openErrors)),
          conn(side, (c) => c.openS).toFixed(1),
          mib(conn(side, (c) => c.idleMiB)),
          `**${mib(conn(side, (c) => c.heldMiB))}**`,
          conn(side, (c) => c.perConnKiB).toFixed(1),
          fmtRate(conn(side, (c) => c.dropped)),
        ]),
      ),
    );
    L.push('');
  }
  if (ran('fanout')) {
    L.push(
      table(
        ['fan-out', 'receipts / expected', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'from event.timestamp p50 / p99 ms'],
        (
          [
            ['bus', 'Deskflow, live bus → socket'],
            ['rest', 'Deskflow, POST /tickets → socket'],
            ['bare', 'bare ws, POST /broadcast → socket'],
          ] as const
        ).map(([k, name]) => [
          name,
          `${fmtRate(fan(k, (x) => x.received))} / ${fmtRate(fan(k, (x) => x.expected))}`,
          ms(fan(k, (x) => x.p50)),
          ms(fan(k, (x) => x.p95)),
          `**${ms(fan(k, (x) => x.p99))}**`,
          ms(fan(k, (x) => x.max)),
          k === 'rest' ? `${ms(fan(k, (x) => x.fromEvent!.p50))} / ${ms(fan(k, (x) => x.fromEvent!.p99))}` : '–',
        ]),
      ),
    );
    L.push('');
  }
  const stepKeys = [...s.rates.map((rate) => `deskflow-${rate}`), `bare-${topRate}`];
  if (ran('peak')) {
    L.push(
      table(
        ['peak step', 'offered/s', 'delivered/s', 'sent', 'errors', 'skipped', 'missing', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'POST p50 / p99 ms'],
        stepKeys.map((key) => [
          key,
          fmtRate(step(key, (x) => x.offered)),
          `**${fmtRate(step(key, (x) => x.rate))}**`,
          fmtRate(step(key, (x) => x.sent)),
          fmtRate(step(key, (x) => x.errors)),
          fmtRate(step(key, (x) => x.skipped)),
          fmtRate(step(key, (x) => x.missing)),
          ms(step(key, (x) => x.p50)),
          `**${ms(step(key, (x) => x.p95))}**`,
          ms(step(key, (x) => x.p99)),
          ms(step(key, (x) => x.max)),
          `${ms(step(key, (x) => x.postP50))} / ${ms(step(key, (x) => x.postP99))}`,
        ]),
      ),
    );
    const firstError = rounds.flatMap((x) => [...x.peak.values()]).find((x) => x.firstError)?.firstError;
    if (firstError) L.push('', `First error: \`${firstError.slice(0, 300).replace(/`/g, "'")}\``);
    L.push('');
  }

  L.push('### Every round', '');
  const roundRows: string[][] = [];
  rounds.forEach((x, i) => {
    for (const side of x.order) {
      const c = x.conn[side];
      if (c)
        roundRows.push([
          String(i + 1),
          `${side} connections`,
          `RSS ${mib(c.idleMiB)} → ${mib(c.heldMiB)} MiB, ${c.opened} open, ${c.openErrors} failed, ${c.openS.toFixed(1)} s`,
        ]);
    }
    for (const k of ['bus', 'rest', 'bare'] as const) {
      const f = x.fan[k];
      if (f) roundRows.push([String(i + 1), `fan-out ${k}`, describeLatency(f)]);
    }
    for (const [key, st] of x.peak) roundRows.push([String(i + 1), `peak ${key}`, describeStep(st)]);
  });
  L.push(table(['round', 'measure', 'figures'], roundRows, 3));
  L.push('');

  L.push('### CPU by phase', '');
  L.push(
    'Average % of one core over the phase in all rounds, per process tree (the Temporal dev server, the worker and the API together are the cost of one reply: where the peak saturates).',
    '',
  );
  const phases = [
    ...(ran('connections') ? ['deskflow:connections', 'bare:connections'] : []),
    ...(ran('fanout') ? ['deskflow:fanout', 'bare:fanout'] : []),
    ...(ran('peak') ? [...s.rates.map((rate) => `deskflow:peak-${rate}`), `bare:peak-${topRate}`] : []),
  ];
  const names = r.usage(phases[0] ?? '').map((x) => x.name);
  L.push(
    table(
      ['phase', ...names],
      phases.map((phase) => [phase, ...r.usage(phase).map((x) => (x.u ? x.u.avgCpuPct.toFixed(0) : '–'))]),
    ),
  );
  return { text: L.join('\n').trimEnd(), missed: verdicts.filter((v) => !v.met).length };
}

runBench(TAG, main, readSettings().timeoutS * 1000);
