/**
 * `npm run bench:scale` (issue #13 item 6): the scale-out proof. Two API processes and two workers against one
 * Temporal, one PostgreSQL database and one Redis prefix; load through both APIs; `kill -9` of one API and one worker
 * midway; then every acknowledged write, SLA trigger, webhook delivery and live event is checked to have happened
 * exactly once (webhooks: at least once, deduplicated by `webhook-id`). Loopback only, bounded (< 8 minutes).
 *
 * Starts a Temporal dev server (in memory), a scratch database migrated as the owner, a Redis key prefix, two real
 * workers (`workers/main.ts`, same task queues) and two real APIs (`api/main.ts`), NODE_ENV=production,
 * WEBHOOK_ALLOW_LOOPBACK=true, the live resume window raised so that the whole run stays in the Redis stream (the
 * stream is what the live check reads). Two tenants (A takes 4/5 of the load, B 1/5: isolation is checked too), each
 * with an admin, agents, a customer (seeded as the owner, like the other benches), and through the API: an SLA
 * policy (first reply in BENCH_SCALE_SLA_SECONDS, a warning rule at 50 % and a breach rule, each adding a tag) and a
 * webhook endpoint (include_internal) pointing at its own loopback receiver in this process (answers 204, verifies
 * every signature, records every delivery by `webhook-id`). Live clients (console/js/live-client.js, the console's
 * own client, with `ws`): BENCH_SCALE_CLIENTS_PER_NODE per API node for tenant A, one per node for tenant B, each
 * an agent of its own; they record every event id and, when their node goes, reconnect (to the next node, as a load
 * balancer would send them) and resume from their last event id.
 *
 * Load: open loop at BENCH_SCALE_RATE writes/s for BENCH_SCALE_SECONDS, alternating between the two APIs: creates,
 * PATCHes of acknowledged tickets (a unique subject each) and messages (alternately an internal note and a public
 * customer reply, so no ticket's first-reply clock is achieved and every ticket warns and breaches during the run),
 * each carrying a unique marker. At BENCH_SCALE_KILL_AT of the load, SIGKILL of the second API and the second worker;
 * the load keeps alternating (writes sent to the dead API fail: unacknowledged). Every answer is recorded: 2xx =
 * acknowledged (must have happened exactly once); connection refused = never reached an API (must not have happened);
 * anything else = unacknowledged (may have happened, at most once).
 *
 * Then (bounded by BENCH_SCALE_DRAIN_SECONDS) it waits for the SLA deadlines of every acknowledged ticket, the webhook
 * deliveries and the live clients to converge, reads PostgreSQL (tickets, messages, ticket_events, webhook tables) and
 * the tenants' Redis streams, and prints expected / found / duplicates / missing for each promise. Exits 1 when an
 * acknowledged write, an SLA trigger, a webhook or a live event is missing, or anything promised once happened twice.
 * Writes the section between `<!-- bench:scale:begin -->` and `<!-- bench:scale:end -->` of bench/RESULTS.md.
 *
 * Env: BENCH_SCALE_RATE (6), BENCH_SCALE_SECONDS (75), BENCH_SCALE_KILL_AT (0.5), BENCH_SCALE_SLA_SECONDS (20),
 *      BENCH_SCALE_CLIENTS_PER_NODE (2), BENCH_SCALE_DRAIN_SECONDS (150), BENCH_SCALE_TIMEOUT_SECONDS (watchdog, 470),
 *      BENCH_RESULTS_FILE (write the section elsewhere), DATABASE_URL / DATABASE_ADMIN_URL / REDIS_URL.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import WebSocket from 'ws';
import { LiveClient, type LiveEnvelope } from '../console/js/live-client.js';
import { WEBHOOK_EVENT_TYPES } from '../domain/webhooks';
import { createFieldCrypto } from '../platform/field-crypto';
import { liveStreamKey } from '../platform/live-bus';
import { createRedis } from '../platform/redis';
import { customerStore } from '../stores/customers';
import { userStore } from '../stores/users';
import { freePort } from '../test/support/processes';
import { login, operatorOf } from '../test/support/stack';
import { type Receiver, startReceiver } from '../test/webhooks/support';
import { type Cleanup, numberEnv, requireServices, runBench, writeSection } from './lib/harness';
import { openLoop } from './lib/load';
import { describeMachine, loadAverage } from './lib/machine';
import { table } from './lib/report';
import { scratchNames, startScratch } from './lib/scratch';
import { type Service, serviceGroup, waitForHttp } from './lib/services';
import { latencyFigures } from './lib/stats';

const TAG = 'bench-scale';
const RESULTS_FILE = path.join(__dirname, 'RESULTS.md');
const BEGIN = '<!-- bench:scale:begin -->';
const END = '<!-- bench:scale:end -->';
const PREAMBLE = '# Deskflow benchmark results\n\n';
const WORKER_WARM = '"msg":"worker warm"';
/**
 * An SLA trigger counts as due in the run when it was due this long before the checks; the drain waits at least this
 * long after the last acknowledged ticket's breach (and for every acknowledged ticket's breach escalation), so when the
 * run converges every acknowledged ticket is expected.
 */
const SLA_GRACE_MS = 3000;
/** The kill waits (at most this long past its planned time) for a write to the victim API to be in flight. */
const KILL_WAIT_MS = 3000;
/** After everything converged, this long more for a late duplicate to show up. */
const SETTLE_MS = 4000;
const REQUEST_TIMEOUT_MS = 45_000;
const DELIVERABLE = new Set<string>(WEBHOOK_EVENT_TYPES.filter((t) => t !== 'webhook.test'));

const log = (msg: string) => console.log(`[${TAG}] ${msg}`);

interface Settings {
  rate: number;
  seconds: number;
  killAt: number;
  slaSeconds: number;
  clientsPerNode: number;
  drainS: number;
  timeoutS: number;
}

function readSettings(): Settings {
  return {
    rate: numberEnv('BENCH_SCALE_RATE', 6, { integer: false, min: 0.5, max: 50 }),
    seconds: numberEnv('BENCH_SCALE_SECONDS', 75, { min: 20, max: 300 }),
    killAt: numberEnv('BENCH_SCALE_KILL_AT', 0.5, { integer: false, min: 0.1, max: 0.9 }),
    slaSeconds: numberEnv('BENCH_SCALE_SLA_SECONDS', 20, { min: 4, max: 120 }),
    clientsPerNode: numberEnv('BENCH_SCALE_CLIENTS_PER_NODE', 2, { min: 1, max: 8 }),
    drainS: numberEnv('BENCH_SCALE_DRAIN_SECONDS', 150, { min: 30, max: 600 }),
    timeoutS: numberEnv('BENCH_SCALE_TIMEOUT_SECONDS', 470, { min: 120 }),
  };
}

// ---- what the run did ------------------------------------------------------------------------------------------------

type Kind = 'create' | 'patch' | 'message';
/** acked: 2xx; refused: no TCP connection to any API (cannot have happened); unacked: anything else (may have). */
type Outcome = 'acked' | 'refused' | 'unacked';

interface Write {
  seq: number;
  kind: Kind;
  tenant: string;
  node: number;
  /** ms since the load started. */
  sentAt: number;
  afterKill: boolean;
  marker: string;
  /** The ticket created (when acknowledged) or targeted. */
  ticketId?: string;
  /** An acknowledged create's created_at (epoch ms). */
  createdAt?: number;
  outcome?: Outcome;
  error?: string;
  /** Time to the answer (or the failure), ms. */
  ms?: number;
}

interface TenantRun {
  key: 'A' | 'B';
  id: string;
  name: string;
  customerId: string;
  adminToken: string;
  writerToken: string;
  agentTokens: string[];
  receiver: Receiver;
  endpointId: string;
  policyId: string;
  /** Acknowledged creates: the tickets PATCHes and messages go to. */
  tickets: string[];
  ops: number;
}

interface ClientRun {
  name: string;
  tenant: TenantRun;
  home: number;
  client?: LiveClient;
  /** Receipts per event id. */
  ids: Map<string, number>;
  keys: Map<string, string>;
  readies: { node: number; at: number }[];
  resyncs: number;
  errors: string[];
  sockets: number;
  currentNode: number;
  stopped?: string;
}

interface Row {
  check: string;
  tenant: string;
  expected: number | string;
  found: number | string;
  duplicates: number | string;
  missing: number | string;
  rule: string;
  ok: boolean;
}

const eventKey = (ticketId: unknown, version: unknown, type: unknown) => `${String(ticketId)}:${String(version)}:${String(type)}`;

function classify(err: unknown): { outcome: Outcome; error: string } {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = e.cause?.code;
  const text = `${e.name ?? 'Error'}: ${e.message ?? String(err)}${e.cause ? ` (${code ?? e.cause.message})` : ''}`;
  return { outcome: code === 'ECONNREFUSED' ? 'refused' : 'unacked', error: text.slice(0, 200) };
}

// ---- the run -----------------------------------------------------------------------------------------------------------

async function main(cleanup: Cleanup): Promise<number> {
  const s = readSettings();
  const scratch = scratchNames('scale');
  const { base, runId, serverUrl, adminDatabaseUrl, redisPrefix } = scratch;
  const benchStarted = Date.now();
  log(
    `run ${runId}: 2 APIs + 2 workers, ${s.rate} writes/s for ${s.seconds} s, kill -9 of one API and one worker at ${Math.round(s.killAt * 100)} %, SLA first reply ${s.slaSeconds} s`,
  );
  await requireServices(serverUrl, base.REDIS_URL);
  const machine = await describeMachine(serverUrl, base.REDIS_URL);
  log(`machine: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, load ${machine.loadAverage}`);

  const receivers = { A: await startReceiver(() => ({ status: 204 })), B: await startReceiver(() => ({ status: 204 })) };
  cleanup.add('webhook receivers', () => Promise.all([receivers.A.close(), receivers.B.close()]));

  const { env, runConfig } = await startScratch(scratch, cleanup, log, s.timeoutS, {
    TEMPORAL_TASK_QUEUE: `bench-scale-tickets-${runId}`,
    TEMPORAL_WEBHOOK_TASK_QUEUE: `bench-scale-webhooks-${runId}`,
    WEBHOOK_ALLOW_LOOPBACK: 'true',
    API_METRICS_ADDRESS: '',
    // The whole run stays in each tenant's live stream: the stream is what the live checks read.
    LIVE_RESUME_EVENTS: '100000',
    LIVE_RESUME_WINDOW: '30m',
  });

  const admin = new pg.Pool({ connectionString: adminDatabaseUrl, max: 4 });
  cleanup.add('owner pool', () => admin.end());
  const redis = createRedis({ REDIS_URL: base.REDIS_URL, REDIS_KEY_PREFIX: redisPrefix });
  cleanup.add('Redis client', async () => redis.disconnect());

  // ---- processes ------------------------------------------------------------------------------------------------------
  const { start } = serviceGroup(env, cleanup);
  log('starting two workers and two APIs…');
  const workers = [start('worker-1', 'workers/main.ts', { LOG_LEVEL: 'info' }), start('worker-2', 'workers/main.ts', { LOG_LEVEL: 'info' })];
  const ports = [await freePort(), await freePort()];
  const apis = ports.map((port, i) => start(`api-${i + 1}`, 'api/main.ts', { PORT: String(port) }));
  const apiUrls = ports.map((port) => `http://127.0.0.1:${port}`);
  const t0Start = Date.now();
  await Promise.all([...workers.map((w) => w.waitForOutput(WORKER_WARM, 150_000)), ...apis.map((a, i) => waitForHttp(a, `${apiUrls[i]}/readyz`, {}, 150_000))]);
  log(`stack ready in ${((Date.now() - t0Start) / 1000).toFixed(0)} s`);
  const killed = new Set<Service>();
  const health = () => {
    for (const svc of [...workers, ...apis]) if (!killed.has(svc)) svc.assertRunning();
  };

  const request = async (node: number, method: string, p: string, token: string, body?: unknown) => {
    const res = await fetch(apiUrls[node] + p, {
      method,
      headers: { Authorization: `Bearer ${token}`, Accept: 'application/json', ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Record<string, any>) : {} };
  };
  const must = async (what: string, p: Promise<{ status: number; body: Record<string, any> }>) => {
    const r = await p;
    if (r.status < 200 || r.status >= 300) throw new Error(`${what}: HTTP ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
    return r.body;
  };

  // ---- tenants (rows as the owner, like every bench; policy and endpoint through the API) ------------------------------
  const tag = runId.replace(/_/g, '-');
  const password = randomBytes(18).toString('base64url');
  const crypto = createFieldCrypto(runConfig);
  const makeTenant = async (key: 'A' | 'B', agents: number): Promise<TenantRun> => {
    const id = randomUUID();
    const name = `Bench Scale ${key}`;
    await admin.query('INSERT INTO tenants (id, name) VALUES ($1, $2)', [id, name]);
    const users = userStore(admin);
    const emails: string[] = [];
    for (let i = 0; i <= agents; i++) {
      const email = `scale-${key.toLowerCase()}-${i}-${tag}@bench.test`;
      await users.create(operatorOf(id), { email, password, name: `${name} ${i === 0 ? 'admin' : `agent ${i}`}`, role: i === 0 ? 'admin' : 'agent' });
      emails.push(email);
    }
    const customer = await customerStore(admin, crypto).create(operatorOf(id), randomUUID(), {
      name: `${name} customer`,
      email: `customer-${key.toLowerCase()}-${tag}@example.com`,
      phone: null,
      external_id: null,
    });
    const tokens: string[] = [];
    for (const email of emails) tokens.push((await login({ url: apiUrls[tokens.length % 2]! }, email, password)).token);
    const adminToken = tokens[0]!;
    const receiver = receivers[key];
    const endpoint = await must(
      'webhook endpoint',
      request(0, 'POST', '/api/v1/webhook-endpoints', adminToken, { url: receiver.url, description: `bench scale ${key}`, include_internal: true }),
    );
    receiver.secrets.push(String(endpoint.secret));
    const target = s.slaSeconds / 60;
    const policy = await must(
      'SLA policy',
      request(1, 'POST', '/api/v1/sla-policies', adminToken, {
        name: `bench scale: first reply in ${s.slaSeconds} s`,
        position: 0,
        conditions: {},
        targets: { low: { first_reply: target }, normal: { first_reply: target }, high: { first_reply: target }, urgent: { first_reply: target } },
        calendar_id: null,
        escalation_rules: [
          { id: 'warn', metrics: ['first_reply'], trigger: { type: 'warning', percent: 50 }, actions: [{ type: 'add_tag', tag: 'sla-warned' }] },
          { id: 'breach', metrics: ['first_reply'], trigger: { type: 'breach' }, actions: [{ type: 'add_tag', tag: 'sla-breached' }] },
        ],
      }),
    );
    return {
      key,
      id,
      name,
      customerId: customer.id,
      adminToken,
      writerToken: tokens[1]!,
      agentTokens: tokens.slice(1),
      receiver,
      endpointId: String(endpoint.id),
      policyId: String(policy.id),
      tickets: [],
      ops: 0,
    };
  };
  log('setting up tenants A and B (users, customer; SLA policy and webhook endpoint through the API)…');
  const A = await makeTenant('A', 2 * s.clientsPerNode);
  const B = await makeTenant('B', 2);
  const tenants = [A, B];

  // ---- live clients ---------------------------------------------------------------------------------------------------
  const liveUrls = ports.map((port) => `ws://127.0.0.1:${port}/api/v1/live`);
  const clients: ClientRun[] = [];
  const openClient = (tenant: TenantRun, index: number, home: number) => {
    const c: ClientRun = {
      name: `${tenant.key}${index + 1}@api-${home + 1}`,
      tenant,
      home,
      ids: new Map(),
      keys: new Map(),
      readies: [],
      resyncs: 0,
      errors: [],
      sockets: 0,
      currentNode: home,
    };
    // Each new socket after the first goes to the next node (what a load balancer does once a node stops answering).
    class NodeSocket extends WebSocket {
      constructor(_url: string, protocols?: string | string[]) {
        const node = (home + c.sockets) % liveUrls.length;
        super(liveUrls[node]!, protocols, { perMessageDeflate: false });
        c.sockets++;
        c.currentNode = node;
      }
    }
    const token = tenant.agentTokens[index]!;
    c.client = new LiveClient({
      url: liveUrls[home]!,
      WebSocket: NodeSocket,
      token: () => token,
      backoff: { initialMs: 200, maxMs: 2000 },
      onEvent: (event: LiveEnvelope, id: string) => {
        c.ids.set(id, (c.ids.get(id) ?? 0) + 1);
        c.keys.set(id, eventKey(event.data.ticket_id, event.data.version, event.type));
      },
      onStatus: (state, detail) => {
        if (state === 'open') c.readies.push({ node: c.currentNode, at: Date.now() });
        if (state === 'stopped') c.stopped = `${detail.code} ${detail.reason}`;
      },
      onResync: () => {
        c.resyncs++;
      },
      onError: (err) => {
        if (c.errors.length < 5) c.errors.push(err.message);
      },
    });
    clients.push(c);
  };
  for (let node = 0; node < 2; node++) {
    for (let i = 0; i < s.clientsPerNode; i++) openClient(A, node * s.clientsPerNode + i, node);
    openClient(B, node, node);
  }
  cleanup.add('live clients', async () => {
    for (const c of clients) c.client?.close();
  });
  for (let i = 0; i < 300 && clients.some((c) => c.readies.length === 0); i++) await sleep(100);
  const notReady = clients.filter((c) => c.readies.length === 0).map((c) => c.name);
  if (notReady.length) throw new Error(`live clients not ready within 30 s: ${notReady.join(', ')}`);
  log(`${clients.length} live clients ready (${clients.map((c) => c.name).join(', ')})`);
  await sleep(1000);

  // ---- load -----------------------------------------------------------------------------------------------------------
  const writes: Write[] = [];
  let seq = 0;
  let loadStart = 0;
  let killMs = Number.NaN;
  const killAfterMs = Math.round(s.seconds * s.killAt * 1000);
  const victims = { api: apis[1]!, worker: workers[1]! };

  const op = async () => {
    const n = seq++;
    const node = n % 2;
    const tenant = n % 5 === 4 ? B : A;
    const k = tenant.ops++;
    const kind: Kind = tenant.tickets.length < 3 || k % 3 === 0 ? 'create' : k % 3 === 1 ? 'patch' : 'message';
    const marker = `scale ${kind} ${tenant.key}-${n} ${tag}`;
    const w: Write = { seq: n, kind, tenant: tenant.key, node, sentAt: Date.now() - loadStart, afterKill: !Number.isNaN(killMs), marker };
    writes.push(w);
    const target = tenant.tickets[Math.floor(Math.random() * tenant.tickets.length)];
    const began = Date.now();
    try {
      let res: { status: number; body: Record<string, any> };
      if (kind === 'create') {
        res = await request(node, 'POST', '/api/v1/tickets', tenant.writerToken, {
          subject: `Scale ticket ${tenant.key}-${n}`,
          description: marker,
          customer_id: tenant.customerId,
        });
      } else if (kind === 'patch') {
        w.ticketId = target;
        res = await request(node, 'PATCH', `/api/v1/tickets/${target}`, tenant.writerToken, { subject: marker });
      } else {
        w.ticketId = target;
        const note = k % 2 === 0;
        res = await request(node, 'POST', `/api/v1/tickets/${target}/messages`, tenant.writerToken, {
          body: marker,
          visibility: note ? 'internal' : 'public',
          author_type: note ? 'agent' : 'customer',
        });
      }
      if (res.status >= 200 && res.status < 300) {
        w.outcome = 'acked';
        if (kind === 'create') {
          w.ticketId = String(res.body.id);
          w.createdAt = Date.parse(String(res.body.created_at));
          tenant.tickets.push(w.ticketId);
        }
      } else {
        w.outcome = 'unacked';
        w.error = `HTTP ${res.status} ${String(res.body.code ?? '')}`.trim();
      }
    } catch (err) {
      Object.assign(w, classify(err));
    }
    w.ms = Date.now() - began;
  };

  const kill = async () => {
    // Kill while a write to the victim API is in flight (sent ≥ 5 ms ago), so one is cut off mid-request.
    const until = Date.now() + KILL_WAIT_MS;
    const inFlight = () => writes.some((w) => w.node === 1 && !w.outcome && Date.now() - loadStart - w.sentAt >= 5);
    while (!inFlight() && Date.now() < until) await sleep(1);
    killMs = Date.now() - loadStart;
    for (const victim of [victims.api, victims.worker]) {
      killed.add(victim);
      const exited = new Promise<void>((resolve) => {
        if (victim.child.exitCode !== null || victim.child.signalCode !== null) resolve();
        else victim.child.once('exit', () => resolve());
      });
      victim.child.kill('SIGKILL');
      await exited;
    }
    log(
      `kill -9 ${victims.api.name} (pid ${victims.api.child.pid}) and ${victims.worker.name} (pid ${victims.worker.child.pid}) at ${(killMs / 1000).toFixed(1)} s`,
    );
  };

  log(`load: ${s.rate} writes/s for ${s.seconds} s through both APIs…`);
  loadStart = Date.now();
  const killTimer = setTimeout(() => void kill(), killAfterMs);
  cleanup.add('kill timer', async () => clearTimeout(killTimer));
  const progress = setInterval(() => {
    const by = (o: Outcome) => writes.filter((w) => w.outcome === o).length;
    log(
      `  ${((Date.now() - loadStart) / 1000).toFixed(0)} s: ${writes.length} sent, ${by('acked')} acked, ${by('unacked')} unacked, ${by('refused')} refused, ${writes.filter((w) => !w.outcome).length} in flight; load ${loadAverage()}`,
    );
  }, 10_000);
  cleanup.add('progress timer', async () => clearInterval(progress));
  const load = await openLoop(s.rate, s.seconds, 200, op, health, { tolerateErrors: true });
  clearInterval(progress);
  const loadEnd = Date.now();
  if (Number.isNaN(killMs)) throw new Error('the kill did not happen during the load');
  log(`load over: ${writes.length} writes sent in ${((load.endedAt - load.startedAt) / 1000).toFixed(1)} s (${load.skipped} skipped), all answered`);

  // ---- drain ----------------------------------------------------------------------------------------------------------
  const slaMs = s.slaSeconds * 1000;
  const acked = writes.filter((w) => w.outcome === 'acked');
  const ackedCreates = acked.filter((w) => w.kind === 'create');
  const lastDue = Math.max(...ackedCreates.map((w) => w.createdAt! + slaMs));

  interface Db {
    tickets: { id: string; tenant_id: string; description: string; tags: string[] }[];
    events: { tenant_id: string; ticket_id: string; version: number; type: string; changes: any; data: any }[];
    messages: { id: string; tenant_id: string; ticket_id: string; body: string }[];
    deliveries: { id: string; tenant_id: string; endpoint_id: string; status: string; attempts: number; key: string }[];
  }
  const ids = tenants.map((t) => t.id);
  const readDb = async (): Promise<Db> => {
    const [tickets, events, messages, deliveries] = await Promise.all([
      admin.query('SELECT id, tenant_id, description, tags FROM tickets WHERE tenant_id = ANY($1)', [ids]),
      admin.query('SELECT tenant_id, ticket_id, version, type, changes, data FROM ticket_events WHERE tenant_id = ANY($1)', [ids]),
      admin.query('SELECT id, tenant_id, ticket_id, body FROM messages WHERE tenant_id = ANY($1)', [ids]),
      admin.query(
        `SELECT d.id, d.tenant_id, d.endpoint_id, d.status, d.attempts, e.ticket_id || ':' || e.ticket_version || ':' || e.type AS key
         FROM webhook_deliveries d JOIN webhook_events e ON e.seq = d.event_seq WHERE d.tenant_id = ANY($1)`,
        [ids],
      ),
    ]);
    return { tickets: tickets.rows, events: events.rows, messages: messages.rows, deliveries: deliveries.rows };
  };
  const readStream = async (tenantId: string) => {
    const entries = await redis.xrange(liveStreamKey(tenantId), '-', '+');
    return entries.map(([id, fields]) => {
      const r = JSON.parse(fields[1] ?? '{}') as { audience?: string; ticket?: { id: string } | null; event?: LiveEnvelope };
      return { id, audience: r.audience, key: eventKey(r.event?.data.ticket_id, r.event?.data.version, r.event?.type) };
    });
  };
  const receivedKeys = (t: TenantRun) => {
    const byId = new Map<string, { key: string; n: number }>();
    for (const r of t.receiver.received) {
      const id = String(r.headers['webhook-id'] ?? '');
      let key = 'unparsable';
      try {
        const b = JSON.parse(r.body) as { type?: string; data?: { ticket_id?: string; version?: number } };
        key = eventKey(b.data?.ticket_id, b.data?.version, b.type);
      } catch {
        // counted as unexpected below
      }
      const seen = byId.get(id);
      if (seen) seen.n++;
      else byId.set(id, { key, n: 1 });
    }
    return byId;
  };
  const deliverableKeys = (db: Db, tenantId: string) =>
    new Set(db.events.filter((e) => e.tenant_id === tenantId && DELIVERABLE.has(e.type)).map((e) => eventKey(e.ticket_id, e.version, e.type)));

  /** What is still outstanding (empty: converged). */
  const outstanding = async (): Promise<string[]> => {
    const out: string[] = [];
    if (Date.now() < lastDue + SLA_GRACE_MS) out.push(`SLA deadlines until ${new Date(lastDue).toISOString()}`);
    const db = await readDb();
    const breached = new Set(db.events.filter((e) => e.type === 'sla.escalated' && e.data.rule_id === 'breach').map((e) => e.ticket_id));
    const noBreach = ackedCreates.filter((w) => !breached.has(w.ticketId!)).length;
    if (noBreach) out.push(`${noBreach} acknowledged tickets without their breach escalation`);
    for (const t of tenants) {
      const expected = deliverableKeys(db, t.id);
      const got = new Set([...receivedKeys(t).values()].map((x) => x.key));
      const missingHooks = [...expected].filter((k) => !got.has(k)).length;
      if (missingHooks) out.push(`${t.key}: ${missingHooks} webhooks not received`);
      const stream = await readStream(t.id);
      const streamKeys = new Set(stream.map((e) => e.key));
      const missingLive = [...expected].filter((k) => !streamKeys.has(k)).length;
      if (missingLive) out.push(`${t.key}: ${missingLive} events not in the live stream`);
      for (const c of clients.filter((x) => x.tenant === t)) {
        const behind = stream.filter((e) => e.audience === 'tickets' && !c.ids.has(e.id)).length;
        if (behind) out.push(`${c.name}: ${behind} live events not received`);
      }
    }
    return out;
  };
  log(`waiting (at most ${s.drainS} s) for the SLA deadlines, webhook deliveries and live clients to converge…`);
  const drainDeadline = loadEnd + s.drainS * 1000;
  let left: string[] = [];
  for (;;) {
    health();
    left = await outstanding();
    if (left.length === 0 || Date.now() > drainDeadline) break;
    log(`  ${((Date.now() - loadEnd) / 1000).toFixed(0)} s after the load: ${left.slice(0, 4).join('; ')}${left.length > 4 ? '; …' : ''}`);
    await sleep(3000);
  }
  const drainMs = Date.now() - loadEnd;
  log(
    left.length
      ? `drain bound reached after ${(drainMs / 1000).toFixed(0)} s; still outstanding: ${left.join('; ')}`
      : `converged ${(drainMs / 1000).toFixed(1)} s after the load`,
  );
  await sleep(SETTLE_MS);

  // ---- checks ---------------------------------------------------------------------------------------------------------
  const checkedAt = Date.now();
  const db = await readDb();
  const rows: Row[] = [];
  const count = <T>(items: T[], keyOf: (x: T) => string | undefined) => {
    const m = new Map<string, number>();
    for (const x of items) {
      const k = keyOf(x);
      if (k !== undefined) m.set(k, (m.get(k) ?? 0) + 1);
    }
    return m;
  };
  const ticketTenant = new Map(db.tickets.map((t) => [t.id, t.tenant_id]));
  const ticketIdsByMarker = new Map<string, string[]>();
  for (const t of db.tickets) ticketIdsByMarker.set(t.description, [...(ticketIdsByMarker.get(t.description) ?? []), t.id]);
  const createdEvents = count(
    db.events.filter((e) => e.type === 'ticket.created'),
    (e) => e.ticket_id,
  );
  const patchEvents = count(
    db.events.filter((e) => e.type === 'ticket.updated'),
    (e) => (typeof e.changes?.subject?.to === 'string' ? e.changes.subject.to : undefined),
  );
  const messagesByMarker = new Map<string, string[]>();
  for (const m of db.messages) messagesByMarker.set(m.body, [...(messagesByMarker.get(m.body) ?? []), m.id]);
  const messageEvents = count(
    db.events.filter((e) => e.type === 'ticket.message_added'),
    (e) => e.data?.message_id,
  );
  /**
   * How many times the write with this marker happened (rows and timeline events, the larger), whether one of them is
   * missing, and (a create) whether its row is not the ticket the API answered with.
   */
  const applied = (w: Write): { times: number; incomplete: boolean } => {
    if (w.kind === 'create') {
      const ids = ticketIdsByMarker.get(w.marker) ?? [];
      const eventsN = ids.reduce((sum, id) => sum + (createdEvents.get(id) ?? 0), 0);
      const wrong = w.outcome === 'acked' && ids.length > 0 && !ids.includes(w.ticketId!);
      return { times: Math.max(ids.length, eventsN), incomplete: ids.length === 0 || eventsN === 0 || wrong };
    }
    if (w.kind === 'patch') {
      const n = patchEvents.get(w.marker) ?? 0;
      return { times: n, incomplete: n === 0 };
    }
    const msgIds = messagesByMarker.get(w.marker) ?? [];
    const eventsN = msgIds.reduce((sum, id) => sum + (messageEvents.get(id) ?? 0), 0);
    return { times: Math.max(msgIds.length, eventsN), incomplete: msgIds.length === 0 || eventsN === 0 };
  };
  const plural: Record<Kind, string> = { create: 'creates', patch: 'PATCHes', message: 'messages' };
  const kindLabel: Record<Kind, string> = {
    create: 'acknowledged creates → one ticket row + one ticket.created',
    patch: 'acknowledged PATCHes → one ticket.updated (its subject)',
    message: 'acknowledged messages → one messages row + one ticket.message_added',
  };
  for (const t of tenants) {
    for (const kind of ['create', 'patch', 'message'] as const) {
      const mine = writes.filter((w) => w.tenant === t.key && w.kind === kind);
      const ack = mine.filter((w) => w.outcome === 'acked');
      const done = ack.map(applied);
      const dup = done.filter((a) => a.times > 1).length;
      const miss = done.filter((a) => a.incomplete).length;
      rows.push({
        check: kindLabel[kind],
        tenant: t.key,
        expected: ack.length,
        found: done.filter((a) => a.times >= 1).length,
        duplicates: dup,
        missing: miss,
        rule: 'exactly once',
        ok: dup === 0 && miss === 0,
      });
      const notAcked = mine.filter((w) => w.outcome === 'unacked').map(applied);
      const refused = mine.filter((w) => w.outcome === 'refused').map(applied);
      const nDup = notAcked.filter((a) => a.times > 1).length;
      const rApplied = refused.filter((a) => a.times > 0).length;
      rows.push({
        check: `  unacknowledged ${plural[kind]} (cut off / refused)`,
        tenant: t.key,
        expected: `${notAcked.length} / ${refused.length}`,
        found: `${notAcked.filter((a) => a.times >= 1).length} / ${rApplied} happened`,
        duplicates: nDup,
        missing: '–',
        rule: 'at most once; refused: never',
        ok: nDup === 0 && rApplied === 0,
      });
    }

    // SLA triggers of the acknowledged tickets due before the checks; duplicates over every ticket of the tenant.
    const tenantEvents = db.events.filter((e) => e.tenant_id === t.id);
    const due = ackedCreates.filter((w) => w.tenant === t.key && w.createdAt! + slaMs <= checkedAt - SLA_GRACE_MS);
    const dueWarn = ackedCreates.filter((w) => w.tenant === t.key && w.createdAt! + slaMs / 2 <= checkedAt - SLA_GRACE_MS);
    const slaKinds: { label: string; of: (e: Db['events'][number]) => string | undefined; expectedOn: Write[] }[] = [
      {
        label: 'sla.warning (first_reply)',
        of: (e) => (e.type === 'sla.warning' ? `${e.ticket_id}/${e.data.metric}/${e.data.cycle}` : undefined),
        expectedOn: dueWarn,
      },
      {
        label: 'sla.breached (first_reply)',
        of: (e) => (e.type === 'sla.breached' ? `${e.ticket_id}/${e.data.metric}/${e.data.cycle}` : undefined),
        expectedOn: due,
      },
      {
        label: 'sla.escalated, warning rule (+ tag)',
        of: (e) => (e.type === 'sla.escalated' && e.data.rule_id === 'warn' ? `${e.ticket_id}/${e.data.metric}/1` : undefined),
        expectedOn: dueWarn,
      },
      {
        label: 'sla.escalated, breach rule (+ tag)',
        of: (e) => (e.type === 'sla.escalated' && e.data.rule_id === 'breach' ? `${e.ticket_id}/${e.data.metric}/1` : undefined),
        expectedOn: due,
      },
    ];
    for (const k of slaKinds) {
      const counts = count(tenantEvents, k.of);
      const found = k.expectedOn.filter((w) => (counts.get(`${w.ticketId}/first_reply/1`) ?? 0) >= 1).length;
      const dups = [...counts.values()].filter((n) => n > 1).length;
      const miss = k.expectedOn.length - found;
      rows.push({
        check: `SLA ${k.label}`,
        tenant: t.key,
        expected: k.expectedOn.length,
        found: `${found} (${counts.size} in all)`,
        duplicates: dups,
        missing: miss,
        rule: 'exactly once per ticket, metric, cycle',
        ok: dups === 0 && miss === 0,
      });
    }
    const tagDups = db.tickets.filter((x) => x.tenant_id === t.id && x.tags.length !== new Set(x.tags).size).length;
    const untagged = due.filter((w) => !db.tickets.find((x) => x.id === w.ticketId)?.tags.includes('sla-breached')).length;
    rows.push({
      check: 'SLA escalation effect: tag sla-breached on the ticket',
      tenant: t.key,
      expected: due.length,
      found: due.length - untagged,
      duplicates: tagDups,
      missing: untagged,
      rule: 'exactly once',
      ok: tagDups === 0 && untagged === 0,
    });

    // Webhooks: every deliverable timeline event received at least once; repeats of one webhook-id allowed.
    const expected = deliverableKeys(db, t.id);
    const byId = receivedKeys(t);
    const idsByKey = new Map<string, number>();
    for (const { key } of byId.values()) idsByKey.set(key, (idsByKey.get(key) ?? 0) + 1);
    const repeats = [...byId.values()].reduce((sum, x) => sum + x.n - 1, 0);
    const twiceUnderTwoIds = [...idsByKey.values()].filter((n) => n > 1).length;
    const unexpected = [...idsByKey.keys()].filter((k) => !expected.has(k)).length;
    const missHooks = [...expected].filter((k) => !idsByKey.has(k)).length;
    rows.push({
      check: 'webhooks: each deliverable event received (deduplicated by webhook-id)',
      tenant: t.key,
      expected: expected.size,
      found: `${[...expected].filter((k) => idsByKey.has(k)).length} (${byId.size} webhook-ids, ${t.receiver.received.length} requests)`,
      duplicates: twiceUnderTwoIds + unexpected,
      missing: missHooks,
      rule: 'at least once; one webhook-id per event; nothing else',
      ok: twiceUnderTwoIds === 0 && unexpected === 0 && missHooks === 0,
    });
    rows.push({
      check: '  repeated deliveries of one webhook-id (allowed)',
      tenant: t.key,
      expected: '–',
      found: repeats,
      duplicates: '–',
      missing: '–',
      rule: 'allowed (at least once)',
      ok: true,
    });
    rows.push({
      check: '  signatures that did not verify',
      tenant: t.key,
      expected: 0,
      found: t.receiver.problems.length,
      duplicates: '–',
      missing: '–',
      rule: 'none',
      ok: t.receiver.problems.length === 0,
    });

    // Live: the tenant's stream holds each deliverable event exactly once; every client saw every one of them.
    const stream = (await readStream(t.id)).filter((e) => e.audience === 'tickets');
    const streamCount = count(stream, (e) => e.key);
    const streamDup = [...streamCount.values()].filter((n) => n > 1).length;
    const streamUnexpected = [...streamCount.keys()].filter((k) => !expected.has(k)).length;
    const streamMiss = [...expected].filter((k) => !streamCount.has(k)).length;
    rows.push({
      check: 'live stream (Redis): each deliverable event once',
      tenant: t.key,
      expected: expected.size,
      found: streamCount.size,
      duplicates: streamDup + streamUnexpected,
      missing: streamMiss,
      rule: 'exactly once',
      ok: streamDup === 0 && streamUnexpected === 0 && streamMiss === 0,
    });
    const streamIds = new Set(stream.map((e) => e.id));
    for (const c of clients.filter((x) => x.tenant === t)) {
      const seen = [...c.ids.keys()];
      const missing = stream.filter((e) => !c.ids.has(e.id)).length;
      const repeated = [...c.ids.values()].filter((n) => n > 1).length;
      const foreign = seen.filter((id) => !streamIds.has(id)).length;
      const otherTenant = [...c.keys.values()].filter((k) => {
        const owner = ticketTenant.get(k.split(':')[0]!);
        return owner !== undefined && owner !== t.id;
      }).length;
      const moves = c.readies.map((r) => `api-${r.node + 1}`).join(' → ');
      rows.push({
        check: `  live client ${c.name} (${moves}${c.resyncs ? `, ${c.resyncs} resync` : ''}${c.stopped ? `, stopped ${c.stopped}` : ''})`,
        tenant: t.key,
        expected: stream.length,
        found: stream.length - missing,
        duplicates: repeated + foreign + otherTenant,
        missing,
        rule: 'every event, none twice, own tenant only',
        ok: missing === 0 && repeated === 0 && foreign === 0 && otherTenant === 0 && c.resyncs === 0,
      });
    }
  }
  // Isolation: no delivery of one tenant's ticket to the other's endpoint (also counted as unexpected above).
  const crossHooks = tenants
    .flatMap((t) =>
      [...receivedKeys(t).values()].map((x) => {
        const owner = ticketTenant.get(x.key.split(':')[0]!);
        return owner !== undefined && owner !== t.id;
      }),
    )
    .filter(Boolean).length;
  rows.push({
    check: 'isolation: webhooks of one tenant at the other’s endpoint',
    tenant: 'A+B',
    expected: 0,
    found: crossHooks,
    duplicates: '–',
    missing: '–',
    rule: 'none',
    ok: crossHooks === 0,
  });

  // ---- figures --------------------------------------------------------------------------------------------------------
  const lateness = db.events.filter((e) => e.type === 'sla.breached' || e.type === 'sla.warning').map((e) => Number(e.data.lateness_ms));
  const late = latencyFigures(lateness);
  const deliveryStates = count(db.deliveries, (d) => d.status);
  const attemptsOver1 = db.deliveries.filter((d) => d.attempts > 1).length;
  const failed = rows.filter((r) => !r.ok);
  const ackMs = (from: number, to: number) => latencyFigures(acked.filter((w) => w.sentAt >= from && w.sentAt < to).map((w) => w.ms!));
  const before = ackMs(0, killMs);
  const rightAfter = ackMs(killMs, killMs + 15_000);
  const later = ackMs(killMs + 15_000, Number.POSITIVE_INFINITY);
  const figs = (f: ReturnType<typeof latencyFigures>) => `p50 ${fmt(f.p50)} / p99 ${fmt(f.p99)} / max ${fmt(f.max)} ms`;
  const byOutcome = (filter: (w: Write) => boolean) => {
    const ws = writes.filter(filter);
    return `${ws.length} sent: ${ws.filter((w) => w.outcome === 'acked').length} acked, ${ws.filter((w) => w.outcome === 'unacked').length} unacknowledged, ${ws.filter((w) => w.outcome === 'refused').length} refused`;
  };
  const errorsSeen = count(
    writes.filter((w) => w.error),
    (w) => `${w.kind} via api-${w.node + 1}: ${w.error!.replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, '…')}`,
  );

  const L: string[] = [];
  L.push(
    `_Generated by \`npm run bench:scale\` on ${new Date(checkedAt).toISOString()} (${((Date.now() - benchStarted) / 60_000).toFixed(1)} min). Everything between the bench:scale markers is overwritten by the next run._`,
  );
  L.push('', '## Scale-out proof: two APIs, two workers, kill -9 midway (issue #13 item 6)', '');
  L.push(
    `**${failed.length === 0 ? 'PASS' : 'FAIL'}**: ${failed.length === 0 ? 'every acknowledged write, SLA trigger, webhook and live event happened exactly once (webhooks at least once, one webhook-id each)' : `${failed.length} check(s) failed: ${failed.map((r) => `${r.check.trim()} [${r.tenant}]`).join('; ')}`}.`,
    '',
  );
  L.push(
    table(
      ['check', 'tenant', 'expected', 'found', 'duplicates', 'missing', 'promise', 'verdict'],
      rows.map((r) => [r.check, r.tenant, String(r.expected), String(r.found), String(r.duplicates), String(r.missing), r.rule, r.ok ? 'ok' : '**FAIL**']),
      2,
    ),
  );
  L.push('');
  L.push('### Run', '');
  L.push(
    `- Stack: Temporal dev server (in memory), one scratch database, one Redis prefix; worker-1, worker-2 (same task queues), api-1, api-2 (NODE_ENV=production).`,
  );
  L.push(
    `- Load: open loop at ${s.rate} writes/s for ${s.seconds} s, alternating api-1 / api-2; tenant A 4/5, tenant B 1/5; per tenant creates, PATCHes (subject) and messages (internal note / public customer reply) in turn.`,
  );
  L.push(
    `- Kill: \`kill -9\` of ${victims.api.name} and ${victims.worker.name} at ${(killMs / 1000).toFixed(1)} s of the load (planned ${Math.round(s.killAt * 100)} %).`,
  );
  L.push(`- Writes: ${byOutcome(() => true)}; before the kill ${byOutcome((w) => !w.afterKill)}; after it ${byOutcome((w) => w.afterKill)}.`);
  for (const kind of ['create', 'patch', 'message'] as const) L.push(`  - ${kind}: ${byOutcome((w) => w.kind === kind)}`);
  L.push(
    `- Acknowledged write latency (send → 2xx): before the kill ${figs(before)}; in the 15 s after it ${figs(rightAfter)}; later ${figs(later)}. Writes are not retried: those sent to the dead API fail at once (connection refused).`,
  );
  L.push(
    `- SLA: policy first reply ${s.slaSeconds} s (24/7), warning rule at 50 %, breach rule; each rule adds a tag. Trigger lateness (fired − due) over ${lateness.length} warnings and breaches: p50 ${fmt(late.p50)} / p99 ${fmt(late.p99)} / max ${fmt(late.max)} ms (the tickets cached by the killed worker wait out WORKER_STICKY_QUEUE_TIMEOUT).`,
  );
  L.push(
    `- Webhooks: ${db.deliveries.length} deliveries, by status ${[...deliveryStates].map(([k, n]) => `${k} ${n}`).join(', ')}; ${attemptsOver1} needed more than one attempt.`,
  );
  L.push(
    `- Live: ${clients.length} clients (${s.clientsPerNode} of tenant A and 1 of tenant B per API node), each an agent of its own; reconnects: ${clients.map((c) => `${c.name} ${c.readies.length - 1}`).join(', ')}.`,
  );
  L.push(
    `- Drain: ${left.length ? `bound of ${s.drainS} s reached, outstanding: ${left.join('; ')}` : `converged ${(drainMs / 1000).toFixed(1)} s after the load ended`} (the last acknowledged ticket's breach was due ${((lastDue - loadEnd) / 1000).toFixed(1)} s after it); checks ${SETTLE_MS / 1000} s later.`,
  );
  L.push(
    `- Machine: ${machine.cpu}, ${machine.cores} cores, Node.js ${machine.node}, PostgreSQL ${machine.postgres}, Redis ${machine.redis}; load average at start ${machine.loadAverage}, at end ${loadAverage()}; code ${machine.code}.`,
  );
  L.push(
    `- Parameters: BENCH_SCALE_RATE=${s.rate} BENCH_SCALE_SECONDS=${s.seconds} BENCH_SCALE_KILL_AT=${s.killAt} BENCH_SCALE_SLA_SECONDS=${s.slaSeconds} BENCH_SCALE_CLIENTS_PER_NODE=${s.clientsPerNode} BENCH_SCALE_DRAIN_SECONDS=${s.drainS}; LIVE_RESUME_EVENTS=100000, LIVE_RESUME_WINDOW=30m (the run fits in the stream), every other setting at its default.`,
  );
  if (errorsSeen.size) {
    L.push('', 'Answers other than 2xx (how the unacknowledged writes failed):', '');
    for (const [e, n] of [...errorsSeen].sort((a, b) => b[1] - a[1]).slice(0, 12)) L.push(`- ${n} × ${e.replace(/\|/g, '/')}`);
  }
  L.push('', '### Method', '');
  L.push(
    '- Acknowledged = a 2xx answer. A write whose connection was refused never reached an API and must not have happened; any other failure (connection cut by the kill, a timeout, a 5xx) is unacknowledged: it may have happened, at most once. Each write carries a unique marker (a create its description, a PATCH its subject, a message its body), so the checks find it in PostgreSQL however the ids came out.',
  );
  L.push(
    '- Writes: tickets by description, `ticket_events` (`ticket.created` per ticket; `ticket.updated` whose `changes.subject.to` is the PATCH marker; `ticket.message_added` whose `data.message_id` is the message row with the marker), `messages` by body. SLA: `sla.warning` / `sla.breached` / `sla.escalated` timeline events of every acknowledged ticket whose trigger was due ' +
      `${SLA_GRACE_MS / 1000} s before the checks (duplicates counted over every ticket of the tenant, per ticket, metric and cycle or rule), and the escalation's tag on the ticket.`,
  );
  L.push(
    '- Webhooks: the expected set is every timeline event of a deliverable type (the catalog, `ticket.*` and `sla.warning|breached|escalated`); each tenant’s receiver (its own endpoint, `include_internal`) keys what it received by (ticket, version, type) from the body and by `webhook-id`; a repeat of one `webhook-id` is allowed, one event under two ids, an event not in the set, or another tenant’s event is not. Every request is verified (standardwebhooks and node:crypto).',
  );
  L.push(
    '- Live: the tenant’s Redis stream (`live:events:<tenant>`, kept whole for the run) must hold each expected event once; each client (console/js/live-client.js) must have received every stream entry (by stream id), none twice, none of the other tenant. Clients were ready before the load began; a client whose node died reconnects with backoff to the next node and resumes from its last event id.',
  );
  const text = L.join('\n');
  console.log(`\n${text}\n`);
  writeSection(RESULTS_FILE, BEGIN, END, text, PREAMBLE);
  log(`section written to ${process.env.BENCH_RESULTS_FILE || RESULTS_FILE}`);
  return failed.length === 0 ? 0 : 1;
}

const fmt = (v: number) => (Number.isNaN(v) ? '–' : v.toFixed(0));

runBench(TAG, main, readSettings().timeoutS * 1000);
