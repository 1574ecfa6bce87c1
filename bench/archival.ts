/**
 * `npm run bench:archival` (issue #14): archive BENCH_ARCHIVE_TICKETS closed tickets (with messages, timeline, SLA
 * records, audit entries and attachments) with the real worker's archival workflow, and measure the archival rate, the
 * hot database's size before and after, and the API's authenticated GET while archival runs against the same GET
 * without it, in one run on this machine, loopback only.
 *
 * Set-up (not timed): a Temporal dev server (in memory), a scratch database migrated as the owner, a Redis key prefix,
 * a local-directory object store under a scratch data directory, the real worker and the real API (NODE_ENV=production,
 * LOG_LEVEL=warn). One tenant, an admin, a customer and an SLA policy; BENCH_ARCHIVE_TEMPLATES template tickets worked
 * and closed through the API (opening message, a public reply with a file, an internal note with a file, a customer
 * reply; solved, closed; their workflow runs completed), so the projection writes every row a ticket has. The
 * BENCH_ARCHIVE_TICKETS tickets to archive are clones of those rows, inserted as the owner: every id renamed, every
 * timestamp moved 100–399 days back, each attachment's bytes written to the object store under its own key (same
 * bytes, SHA-256 and size as the template's file), audit entries re-chained by the audit trigger. Then VACUUM ANALYZE.
 *
 * Measured:
 *  1. sizes before: pg_database_size and pg_total_relation_size of each hot ticket table (and of the tables archival
 *     writes), the object store's attachments/ and archive/ folders;
 *  2. baseline (no archival): BENCH_ARCHIVE_BASELINE_ROUNDS × (closed loop: autocannon, BENCH_ARCHIVE_GET_CONNECTIONS
 *     connections, BENCH_ARCHIVE_PHASE_SECONDS; open loop: BENCH_ARCHIVE_GET_RATE GET/s, same duration) of
 *     GET /api/v1/tickets/:id (an open ticket, `Authorization: Bearer` of the admin);
 *  3. archival: the archival schedule triggered as `npm run admin -- archive-now` does; while its run goes, the same
 *     closed- and open-loop phases alternate, each cut short when the run completes; tickets/s = archived ÷ (trigger →
 *     the run's result);
 *  4. as many closed + open rounds after archival as before; sizes right after, after VACUUM, and (BENCH_ARCHIVE_VACUUM_FULL=1,
 *     the default) after VACUUM FULL of the hot ticket tables.
 *
 * Writes the section between `<!-- bench-archival:begin -->` and `<!-- bench-archival:end -->` of bench/RESULTS.md
 * (or of BENCH_RESULTS_FILE); a run of fewer than 10,000 tickets writes only to BENCH_RESULTS_FILE (never over the
 * recorded figures) and otherwise just prints its section.
 *
 * The worker archives at its configured pace (ARCHIVE_TICKETS_PER_SECOND, default 5; set it in the environment to
 * measure another, 0 for unpaced): the figures are those of what users run.
 *
 * Env: BENCH_ARCHIVE_TICKETS (10000), BENCH_ARCHIVE_TEMPLATES (4), BENCH_ARCHIVE_BATCH_SIZE (the worker's
 *      ARCHIVE_BATCH_SIZE, default 50), BENCH_ARCHIVE_PHASE_SECONDS (20), BENCH_ARCHIVE_BASELINE_ROUNDS (2),
 *      BENCH_ARCHIVE_GET_CONNECTIONS (10), BENCH_ARCHIVE_GET_RATE (100), BENCH_ARCHIVE_WARMUP_SECONDS (5),
 *      BENCH_ARCHIVE_VACUUM_FULL (1), BENCH_ARCHIVE_TIMEOUT_SECONDS (watchdog, 5400), BENCH_RESULTS_FILE,
 *      BENCH_STRICT=1 (exit 1 when a target is missed), DATABASE_URL / DATABASE_ADMIN_URL / REDIS_URL.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import autocannon from 'autocannon';
import pg from 'pg';
import { archivalScheduleId } from '../domain/archive';
import { ticketWorkflowId } from '../domain/ids';
import { createFieldCrypto } from '../platform/field-crypto';
import { createObjectStorage } from '../platform/object-storage';
import { customerStore } from '../stores/customers';
import { userStore } from '../stores/users';
import { multipart, png } from '../test/support/multipart';
import { freePort } from '../test/support/processes';
import { operatorOf } from '../test/support/stack';
import type { ArchivalTotals } from '../workflows/archival-contract';
import { type Cleanup, numberEnv, requireServices, runBench, writeSection } from './lib/harness';
import { forEachLimited, LATE_MS, postJson } from './lib/load';
import { describeMachine, loadAverage, type Machine } from './lib/machine';
import { ProcSampler } from './lib/proc-sampler';
import { pct, table } from './lib/report';
import { scratchNames, startScratch } from './lib/scratch';
import { serviceGroup, waitForHttp } from './lib/services';
import { describeError, type Sample, summarize } from './lib/stats';

const TAG = 'bench-archival';
const RESULTS_FILE = path.join(__dirname, 'RESULTS.md');
const BEGIN = '<!-- bench-archival:begin -->';
const END = '<!-- bench-archival:end -->';
const PREAMBLE = '# Deskflow benchmark results\n\n';
const WORKER_READY = "state: 'RUNNING'";
const FULL_TICKETS = 10_000;
const TARGET_P95_MS = 200;
const TARGET_RATIO = 0.8;
/** The tables a ticket's hot rows live in (archival empties them of an archived ticket). */
const HOT_TABLES = ['tickets', 'messages', 'attachments', 'ticket_events', 'ticket_sla'] as const;
/** Tables archival writes to (the archive rows; its audit entry and webhook notice per ticket; audit_log is append-only). */
const KEPT_TABLES = ['ticket_archives', 'audit_log', 'webhook_events'] as const;
/** Clones are inserted this many tickets per transaction. */
const SEED_BATCH = 100;
const SEED_OBJECT_CONCURRENCY = 16;
/** Open-loop requests in flight beyond which a scheduled request is not sent (counted late and failed). */
const OPEN_MAX_IN_FLIGHT = 200;
/** A never-firing cron (29 February, 03:00): the run triggers the schedule itself. */
const IDLE_CRON = '0 3 29 2 *';

const log = (msg: string) => console.log(`[${TAG}] ${msg}`);

interface Settings {
  tickets: number;
  templates: number;
  batchSize: number | undefined;
  phaseS: number;
  baselineRounds: number;
  connections: number;
  rate: number;
  warmupS: number;
  vacuumFull: boolean;
  timeoutS: number;
}

function readSettings(): Settings {
  const batch = process.env.BENCH_ARCHIVE_BATCH_SIZE;
  return {
    tickets: numberEnv('BENCH_ARCHIVE_TICKETS', FULL_TICKETS, { min: 10, max: 1_000_000 }),
    templates: numberEnv('BENCH_ARCHIVE_TEMPLATES', 4, { max: 50 }),
    batchSize: batch ? numberEnv('BENCH_ARCHIVE_BATCH_SIZE', 50, { max: 1000 }) : undefined,
    phaseS: numberEnv('BENCH_ARCHIVE_PHASE_SECONDS', 20, { min: 2, max: 600 }),
    baselineRounds: numberEnv('BENCH_ARCHIVE_BASELINE_ROUNDS', 2, { max: 10 }),
    connections: numberEnv('BENCH_ARCHIVE_GET_CONNECTIONS', 10, { max: 500 }),
    rate: numberEnv('BENCH_ARCHIVE_GET_RATE', 100, { max: 5000 }),
    warmupS: numberEnv('BENCH_ARCHIVE_WARMUP_SECONDS', 5, { min: 0, max: 120 }),
    vacuumFull: (process.env.BENCH_ARCHIVE_VACUUM_FULL ?? '1') !== '0',
    timeoutS: numberEnv('BENCH_ARCHIVE_TIMEOUT_SECONDS', 5400, { min: 120 }),
  };
}

// ---- load ------------------------------------------------------------------------------------------------------------

type LoadKind = 'closed' | 'open';
type Stage = 'baseline' | 'during' | 'after';

interface Phase {
  stage: Stage;
  kind: LoadKind;
  round: number;
  sample: Sample;
  /** Tickets archived (archive rows written) while the phase ran, and the phase's wall time. */
  archived: number;
  seconds: number;
}

/** A load phase's figures and its raw latencies (ms), kept to pool phases. */
interface Measured {
  sample: Sample;
  latencies: number[];
}

/** Closed loop: autocannon (keep-alive, no pipelining) for `durationS`, stopped early when `stop()` turns true. */
function closedLoop(url: string, connections: number, durationS: number, headers: Record<string, string>, stop: () => boolean): Promise<Measured> {
  const latencies: number[] = [];
  let firstError: string | undefined;
  const t0 = process.hrtime.bigint();
  return new Promise<Measured>((resolve, reject) => {
    let watch: NodeJS.Timeout | undefined;
    const instance = autocannon({ url, connections, duration: durationS, headers, method: 'GET', pipelining: 1, timeout: 10 }, (err, res) => {
      clearInterval(watch);
      if (err) return reject(err);
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      resolve({ sample: summarize(latencies, res.errors + res.non2xx, seconds, firstError), latencies });
    });
    watch = setInterval(() => {
      if (stop()) {
        clearInterval(watch);
        instance.stop();
      }
    }, 50);
    instance.on('response', (_client, statusCode, _bytes, responseTimeMs) => {
      if (statusCode >= 200 && statusCode < 300) latencies.push(responseTimeMs);
      else firstError ??= `HTTP ${statusCode}`;
    });
    instance.on('reqError', (err: unknown) => {
      firstError ??= describeError(err);
    });
  });
}

/** One keep-alive GET; resolves on a 2xx answer (body read), throws otherwise. */
function get(agent: http.Agent, url: URL, headers: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, headers }, (res) => {
      res.resume();
      res.on('error', reject);
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) resolve();
        else reject(new Error(`HTTP ${status}`));
      });
    });
    req.setTimeout(10_000, () => req.destroy(new Error('request timed out after 10 s')));
    req.on('error', reject);
  });
}

/**
 * Open loop: a GET every 1000/`rate` ms on a fixed schedule for `durationS` (or until `stop()`), latency counted from
 * each request's scheduled time (a late generator or a slow server is in the figure: no coordinated omission). Requests
 * not sent because OPEN_MAX_IN_FLIGHT were in flight count as errors and late.
 */
async function openLoop(
  agent: http.Agent,
  url: URL,
  headers: Record<string, string>,
  rate: number,
  durationS: number,
  stop: () => boolean,
  health: () => void,
): Promise<Measured> {
  const latencies: number[] = [];
  const inFlight = new Set<Promise<void>>();
  let errors = 0;
  let late = 0;
  let firstError: string | undefined;
  const startedAt = Date.now();
  const until = startedAt + durationS * 1000;
  let lastDone = startedAt;
  let ended = startedAt;
  for (let next = startedAt; next < until && !stop(); next += 1000 / rate) {
    if (next > Date.now()) await sleep(next - Date.now());
    health();
    ended = next;
    if (inFlight.size >= OPEN_MAX_IN_FLIGHT) {
      errors++;
      late++;
      firstError ??= `not sent (${OPEN_MAX_IN_FLIGHT} in flight)`;
      continue;
    }
    const scheduledAt = next;
    const behind = Math.max(0, Date.now() - scheduledAt);
    if (behind >= LATE_MS) late++;
    const t0 = process.hrtime.bigint();
    const p: Promise<void> = get(agent, url, headers)
      .then(() => {
        latencies.push(behind + Number(process.hrtime.bigint() - t0) / 1e6);
        lastDone = Date.now();
      })
      .catch((err: unknown) => {
        errors++;
        firstError ??= describeError(err);
      })
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  }
  await Promise.all(inFlight);
  const seconds = (Math.max(lastDone, ended) - startedAt) / 1000;
  return { sample: { ...summarize(latencies, errors, seconds, firstError), late }, latencies };
}

/** Each phase's raw latencies (ms), to pool phases. */
const rawLatencies = new WeakMap<Phase, number[]>();

/** Several phases as one sample: every latency pooled, rate = requests ÷ summed wall time. */
function pooled(phases: Phase[]): Sample | undefined {
  if (phases.length === 0) return undefined;
  const raw = phases.flatMap((p) => rawLatencies.get(p) ?? []);
  const seconds = phases.reduce((s, p) => s + p.sample.seconds, 0);
  const errors = phases.reduce((s, p) => s + p.sample.errors, 0);
  const late = phases.some((p) => p.sample.late !== undefined) ? phases.reduce((s, p) => s + (p.sample.late ?? 0), 0) : undefined;
  const firstError = phases.find((p) => p.sample.firstError)?.sample.firstError;
  return { ...summarize(raw, errors, seconds, firstError), ...(late === undefined ? {} : { late }) };
}

// ---- sizes -------------------------------------------------------------------------------------------------------------

interface Sizes {
  database: number;
  tables: Record<string, { bytes: number; rows: number }>;
}

async function sizes(db: pg.Pool): Promise<Sizes> {
  const names = [...HOT_TABLES, ...KEPT_TABLES];
  const { rows } = await db.query<{ name: string; bytes: string; db: string }>(
    `SELECT n AS name, pg_total_relation_size(n::regclass)::text AS bytes, pg_database_size(current_database())::text AS db FROM unnest($1::text[]) n`,
    [names],
  );
  const tables: Sizes['tables'] = {};
  for (const r of rows) {
    const { rows: c } = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${pg.escapeIdentifier(r.name)}`);
    tables[r.name] = { bytes: Number(r.bytes), rows: Number(c[0]!.n) };
  }
  return { database: Number(rows[0]!.db), tables };
}

const hotBytes = (s: Sizes) => HOT_TABLES.reduce((sum, t) => sum + s.tables[t]!.bytes, 0);
const mb = (bytes: number) => (bytes / 1024 ** 2).toFixed(1);

/** Bytes and files under each top-level folder of the object store's directory. */
function folderBytes(root: string): Record<string, { bytes: number; files: number }> {
  const out: Record<string, { bytes: number; files: number }> = {};
  let top: string[] = [];
  try {
    top = readdirSync(root);
  } catch {
    return out;
  }
  for (const name of top) {
    const acc = { bytes: 0, files: 0 };
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.isFile()) {
          acc.bytes += statSync(p).size;
          acc.files++;
        }
      }
    };
    const p = path.join(root, name);
    if (statSync(p).isDirectory()) walk(p);
    out[name] = acc;
  }
  return out;
}

// ---- seeding -----------------------------------------------------------------------------------------------------------

type Row = Record<string, unknown>;

interface Bundle {
  ticket: Row;
  messages: Row[];
  events: Row[];
  sla: Row[];
  attachments: Row[];
  audit: Row[];
}

/** One template ticket's rows as the projection wrote them (as the owner: no row-level security in the way). */
async function readBundle(db: pg.Pool, ticketId: string): Promise<Bundle> {
  const { rows } = await db.query<Bundle>(
    `SELECT (SELECT to_jsonb(t) FROM tickets t WHERE t.id = $1) AS ticket,
       coalesce((SELECT jsonb_agg(to_jsonb(m)) FROM messages m WHERE m.ticket_id = $1), '[]') AS messages,
       coalesce((SELECT jsonb_agg(to_jsonb(e)) FROM ticket_events e WHERE e.ticket_id = $1), '[]') AS events,
       coalesce((SELECT jsonb_agg(to_jsonb(s)) FROM ticket_sla s WHERE s.ticket_id = $1), '[]') AS sla,
       coalesce((SELECT jsonb_agg(to_jsonb(a)) FROM attachments a WHERE a.ticket_id = $1), '[]') AS attachments,
       coalesce((SELECT jsonb_agg(to_jsonb(l) ORDER BY l.seq) FROM audit_log l WHERE l.entity_type = 'ticket' AND l.entity_id = $1::text), '[]') AS audit`,
    [ticketId],
  );
  return rows[0]!;
}

/** Columns the audit trigger assigns (it overwrites whatever is given). */
const AUDIT_ASSIGNED = new Set(['seq', 'prev_hash', 'hash', 'occurred_at']);

/**
 * INSERT of `rows` (objects of the table's columns, plus `_shift`: days to move every timestamptz back) through
 * jsonb_populate_record, so each value is cast as the table's own column would.
 */
async function insertRows(db: pg.PoolClient, table: string, rows: Row[], shift: boolean, skip: Set<string> = new Set()): Promise<void> {
  if (rows.length === 0) return;
  const { rows: columns } = await db.query<{ name: string; type: string }>(
    'SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum',
    [table],
  );
  const present = columns.filter((c) => !skip.has(c.name) && c.name in rows[0]!);
  const list = present.map((c) => pg.escapeIdentifier(c.name)).join(', ');
  const exprs = present
    .map((c) => {
      const col = `r.${pg.escapeIdentifier(c.name)}`;
      return shift && c.type === 'timestamp with time zone' ? `${col} - make_interval(days => (e.j->>'_shift')::int)` : col;
    })
    .join(', ');
  const relation = pg.escapeIdentifier(table);
  await db.query(
    `INSERT INTO ${relation} (${list}) SELECT ${exprs} FROM jsonb_array_elements($1::jsonb) e(j) CROSS JOIN LATERAL jsonb_populate_record(NULL::${relation}, e.j) r`,
    [JSON.stringify(rows)],
  );
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

/** A bundle with the ticket's, its messages' and its attachments' ids renamed everywhere they appear. */
function cloneBundle(template: Bundle, shiftDays: number): Bundle {
  const ids = new Map<string, string>();
  for (const id of [template.ticket.id, ...template.messages.map((m) => m.id), ...template.attachments.map((a) => a.id)]) ids.set(id as string, randomUUID());
  const b = JSON.parse(JSON.stringify(template).replace(UUID, (m) => ids.get(m) ?? m)) as Bundle;
  const mark = (r: Row) => Object.assign(r, { _shift: shiftDays });
  mark(b.ticket);
  for (const list of [b.messages, b.events, b.sla, b.attachments]) list.forEach(mark);
  return b;
}

// ---- the run -----------------------------------------------------------------------------------------------------------

async function main(cleanup: Cleanup): Promise<number> {
  const s = readSettings();
  const scratch = scratchNames('arch');
  const { base, runId, serverUrl } = scratch;
  const benchStarted = Date.now();
  log(
    `run ${runId}: ${s.tickets} tickets (${s.templates} templates), phases ${s.phaseS} s, ${s.baselineRounds} baseline round(s), ` +
      `${s.connections} connections closed loop, ${s.rate}/s open loop`,
  );
  if (!ProcSampler.available()) throw new Error('CPU sampling needs Linux /proc');
  await requireServices(serverUrl, base.REDIS_URL);
  const machine = await describeMachine(serverUrl, base.REDIS_URL);
  log(`machine: ${machine.cpu}, ${machine.cores} cores, ${machine.ramGiB} GiB, Node ${machine.node}, load ${machine.loadAverage}`);

  const dataDir = mkdtempSync(path.join(os.tmpdir(), `deskflow-bench-archival-${runId}-`));
  cleanup.add(`data directory ${dataDir}`, async () => rmSync(dataDir, { recursive: true, force: true }));
  const objectsDir = path.join(dataDir, 'objects');
  const taskQueue = `bench-archival-${runId}`;
  const { temporal, env, runConfig } = await startScratch(scratch, cleanup, log, s.timeoutS, {
    TEMPORAL_TASK_QUEUE: taskQueue,
    TEMPORAL_WEBHOOK_TASK_QUEUE: `bench-archival-webhooks-${runId}`,
    DATA_DIR: dataDir,
    OBJECT_STORAGE: 'local',
    OBJECT_STORAGE_DIR: objectsDir,
    ARCHIVE_CRON: IDLE_CRON,
    ...(s.batchSize ? { ARCHIVE_BATCH_SIZE: String(s.batchSize) } : {}),
  });
  const batchSize = runConfig.ARCHIVE_BATCH_SIZE;

  const admin = new pg.Pool({ connectionString: scratch.adminDatabaseUrl, max: 4 });
  cleanup.add('owner pool', () => admin.end());
  const storage = createObjectStorage(runConfig);
  cleanup.add('object storage', () => storage.close());

  const tenantId = randomUUID();
  const tag = runId.replace(/_/g, '-');
  const email = `bench-admin-${tag}@bench.test`;
  const password = randomUUID();
  await admin.query('INSERT INTO tenants (id, name) VALUES ($1, $2)', [tenantId, 'Bench Archival Inc']);
  await userStore(admin).create(operatorOf(tenantId), { email, password, name: 'Bench admin', role: 'admin' });
  const customer = await customerStore(admin, createFieldCrypto(runConfig)).create(operatorOf(tenantId), randomUUID(), {
    name: 'Bench Customer',
    email: `customer-${tag}@example.com`,
    phone: null,
    external_id: null,
  });

  const { start, assertAllRunning: health } = serviceGroup(env, cleanup);
  log('starting the worker and the API…');
  const worker = start('worker', 'workers/main.ts');
  const apiPort = await freePort();
  const api = start('api', 'api/main.ts', { PORT: String(apiPort) });
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  await Promise.all([worker.waitForOutput(WORKER_READY, 120_000), waitForHttp(api, `${apiUrl}/readyz`, {}, 120_000)]);

  const connection = await Connection.connect({ address: temporal.address });
  cleanup.add('Temporal client connection', () => connection.close());
  const temporalClient = new Client({ connection, namespace: runConfig.TEMPORAL_NAMESPACE });

  const agent = new http.Agent({ keepAlive: true, maxSockets: OPEN_MAX_IN_FLIGHT + 20 });
  cleanup.add('HTTP agent', async () => agent.destroy());
  const login = (await postJson(agent, new URL('/api/v1/auth/login', apiUrl), {}, JSON.stringify({ email, password }))) as { access_token: string };
  const headers = { Authorization: `Bearer ${login.access_token}`, Accept: 'application/json' };
  const call = async (method: string, p: string, body?: unknown, multipartParts?: Parameters<typeof multipart>[0]): Promise<any> => {
    let payload: Buffer | string | undefined;
    const h: Record<string, string> = { ...headers };
    if (multipartParts) {
      const m = multipart(multipartParts);
      payload = m.body;
      h['Content-Type'] = m.contentType;
    } else if (body !== undefined) {
      payload = JSON.stringify(body);
      h['Content-Type'] = 'application/json';
    }
    const res = await fetch(apiUrl + p, { method, headers: h, body: payload });
    const text = await res.text();
    if (res.status < 200 || res.status >= 300) throw new Error(`${method} ${p}: HTTP ${res.status} ${text.slice(0, 300)}`);
    return text ? JSON.parse(text) : undefined;
  };

  // ---- templates: tickets worked and closed through the API --------------------------------------------------------
  log(`working ${s.templates} template ticket(s) through the API…`);
  await call('POST', '/api/v1/sla-policies', {
    name: 'bench archival',
    position: 10,
    conditions: {},
    targets: { normal: { first_reply: 60, next_reply: 240, resolution: 1440 } },
    calendar_id: null,
  });
  /** File sizes (KiB) of the templates' two files, in turn: small files, 2–20 KiB. */
  const FILE_KIB = [2, 6, 12, 20, 4, 16];
  const templateIds: string[] = [];
  for (let k = 0; k < s.templates; k++) {
    const created = await call('POST', '/api/v1/tickets', {
      subject: `Archival bench template ${k}: invoice question`,
      description: 'My last invoice shows a charge I do not recognise. Could you look into it?',
      customer_id: customer.id,
      priority: 'normal',
      tags: ['billing'],
    });
    const id = created.id as string;
    await call('POST', `/api/v1/tickets/${id}/messages`, undefined, [
      { name: 'body', value: 'Here is the corrected invoice and a screenshot of the charge.' },
      { name: 'files', filename: 'screenshot.png', type: 'image/png', data: png(FILE_KIB[k % FILE_KIB.length]! * 1024 - 8) },
    ]);
    await call('POST', `/api/v1/tickets/${id}/messages`, undefined, [
      { name: 'body', value: 'Refund approved by finance.' },
      { name: 'visibility', value: 'internal' },
      {
        name: 'files',
        filename: 'notes.txt',
        type: 'text/plain',
        data: `internal notes for ${id}\n`.repeat(Math.ceil((FILE_KIB[(k + 3) % FILE_KIB.length]! * 1024) / 58)),
      },
    ]);
    await call('POST', `/api/v1/tickets/${id}/messages`, { body: 'Thanks, that sorts it.', author_type: 'customer' });
    await call('PATCH', `/api/v1/tickets/${id}`, { status: 'solved' });
    await call('PATCH', `/api/v1/tickets/${id}`, { status: 'closed' });
    await temporalClient.workflow.getHandle(ticketWorkflowId(id)).result();
    templateIds.push(id);
  }
  const templates = await Promise.all(templateIds.map((id) => readBundle(admin, id)));
  const templateFiles = new Map<string, Buffer>();
  for (const t of templates) {
    for (const a of t.attachments) {
      const object = await storage.get(a.storage_key as string);
      if (!object) throw new Error(`template file ${a.storage_key} missing from the object store`);
      const chunks: Buffer[] = [];
      for await (const chunk of object.body) chunks.push(chunk as Buffer);
      templateFiles.set(a.storage_key as string, Buffer.concat(chunks));
    }
  }
  const t0 = templates[0]!;
  const shape = {
    messages: t0.messages.length,
    events: t0.events.length,
    sla: t0.sla.length,
    attachments: t0.attachments.length,
    audit: t0.audit.length,
    linked: t0.attachments.every((a) => a.status === 'linked'),
  };
  log(`template shape: ${JSON.stringify(shape)}`);
  if (shape.attachments < 1 || !shape.linked || shape.sla < 1) throw new Error(`a template ticket lacks attachments or SLA rows: ${JSON.stringify(shape)}`);

  // ---- clones ------------------------------------------------------------------------------------------------------
  log(`seeding ${s.tickets} closed tickets (clones of the templates, closed 100–399 days ago) and their files…`);
  const seedStarted = Date.now();
  let objectBytes = 0;
  for (let from = 0; from < s.tickets; from += SEED_BATCH) {
    health();
    const bundles: Bundle[] = [];
    for (let i = from; i < Math.min(s.tickets, from + SEED_BATCH); i++) bundles.push(cloneBundle(templates[i % templates.length]!, 100 + (i % 300)));
    const client = await admin.connect();
    try {
      await client.query('BEGIN');
      await insertRows(
        client,
        'tickets',
        bundles.map((b) => b.ticket),
        true,
      );
      await insertRows(
        client,
        'messages',
        bundles.flatMap((b) => b.messages),
        true,
      );
      await insertRows(
        client,
        'attachments',
        bundles.flatMap((b) => b.attachments),
        true,
      );
      await insertRows(
        client,
        'ticket_events',
        bundles.flatMap((b) => b.events),
        true,
      );
      await insertRows(
        client,
        'ticket_sla',
        bundles.flatMap((b) => b.sla),
        true,
      );
      await insertRows(
        client,
        'audit_log',
        bundles.flatMap((b) => b.audit),
        false,
        AUDIT_ASSIGNED,
      );
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
    // Each clone's files under its own keys, bytes of the template's file (same SHA-256 and size as its row says).
    const files = bundles.flatMap((b, j) =>
      b.attachments.map((a, n) => ({ row: a, bytes: templateFiles.get(templates[(from + j) % templates.length]!.attachments[n]!.storage_key as string)! })),
    );
    await forEachLimited(files.length, SEED_OBJECT_CONCURRENCY, async (i) => {
      const { row, bytes } = files[i]!;
      const stored = await storage.put(row.storage_key as string, Readable.from([bytes]), { contentType: row.content_type as string });
      if (stored.sha256 !== row.sha256 || stored.size !== Number(row.size_bytes)) throw new Error(`seeded ${row.storage_key} does not match its row`);
      objectBytes += stored.size;
    });
    if ((from / SEED_BATCH) % 20 === 19) log(`  ${from + bundles.length} / ${s.tickets}`);
  }
  const seedS = (Date.now() - seedStarted) / 1000;
  log(`seeded in ${seedS.toFixed(1)} s (${mb(objectBytes)} MiB of files); VACUUM ANALYZE…`);
  await admin.query('VACUUM ANALYZE');
  await admin.query('CHECKPOINT');
  const { rows: due } = await admin.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM tickets WHERE status = 'closed' AND closed_at < now() - make_interval(days => $1)`,
    [runConfig.ARCHIVE_AFTER_DAYS],
  );
  if (due[0]!.n !== s.tickets) throw new Error(`${due[0]!.n} tickets are due for archival, expected ${s.tickets}`);

  // The GET target: an open ticket of the same tenant (never archived).
  const hot = await call('POST', '/api/v1/tickets', {
    subject: 'Archival bench: a hot ticket',
    description: 'Read over and over while archival runs.',
    customer_id: customer.id,
    priority: 'high',
  });
  await call('PATCH', `/api/v1/tickets/${hot.id}`, { status: 'open' });
  const getUrl = new URL(`/api/v1/tickets/${hot.id}`, apiUrl);
  await get(agent, getUrl, headers);

  const before = await sizes(admin);
  const objectsBefore = folderBytes(objectsDir);
  log(`hot DB before: database ${mb(before.database)} MiB, hot ticket tables ${mb(hotBytes(before))} MiB`);

  // ---- sampling ----------------------------------------------------------------------------------------------------
  const { rows: backend } = await admin.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  const postmaster = postmasterOf(backend[0]!.pid);
  const sampler = new ProcSampler([
    { name: 'api', pid: api.child.pid! },
    { name: 'worker', pid: worker.child.pid! },
    { name: 'temporal dev server', pid: temporal.process.pid! },
    ...(postmaster ? [{ name: 'postgres (all backends)', pid: postmaster }] : []),
    { name: 'bench (load)', pid: process.pid },
  ]);
  sampler.start();
  cleanup.add('sampler', async () => sampler.stop());

  const archivedCount = async () => (await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM ticket_archives WHERE state = 'archived'`)).rows[0]!.n;

  const phases: Phase[] = [];
  const runPhase = async (stage: Stage, kind: LoadKind, round: number, stop: () => boolean): Promise<void> => {
    sampler.setPhase(`${stage}-${kind}`);
    const a0 = await archivedCount();
    const w0 = Date.now();
    const { sample, latencies } =
      kind === 'closed'
        ? await closedLoop(getUrl.toString(), s.connections, s.phaseS, headers, stop)
        : await openLoop(agent, getUrl, headers, s.rate, s.phaseS, stop, health);
    const seconds = (Date.now() - w0) / 1000;
    const a1 = await archivedCount();
    health();
    const phase: Phase = { stage, kind, round, sample, archived: a1 - a0, seconds };
    phases.push(phase);
    rawLatencies.set(phase, latencies);
    log(
      `  ${stage} ${kind} #${round}: ${sample.rps.toFixed(0)} req/s, p50 ${sample.p50.toFixed(1)} / p95 ${sample.p95.toFixed(1)} / p99 ${sample.p99.toFixed(1)} ms, ` +
        `${sample.errors} errors${sample.late !== undefined ? `, ${sample.late} late` : ''}; ${phase.archived} archived in ${seconds.toFixed(1)} s`,
    );
  };
  const never = () => false;

  // ---- baseline ----------------------------------------------------------------------------------------------------
  if (s.warmupS > 0) {
    log(`warm-up ${s.warmupS} s…`);
    sampler.setPhase('warm-up');
    await closedLoop(getUrl.toString(), s.connections, s.warmupS, headers, never);
  }
  log('baseline (no archival running)…');
  for (let r = 1; r <= s.baselineRounds; r++) {
    await runPhase('baseline', 'closed', r, never);
    await runPhase('baseline', 'open', r, never);
  }

  // ---- archival, with the GET load ---------------------------------------------------------------------------------
  log('triggering the archival schedule (as `admin archive-now` does)…');
  const schedule = temporalClient.schedule.getHandle(archivalScheduleId(taskQueue));
  const known = new Set((await schedule.describe()).info.recentActions.map((a) => a.action.workflow.workflowId));
  const triggeredAt = Date.now();
  await schedule.trigger();
  let run: { workflowId: string; firstExecutionRunId: string } | undefined;
  while (!run) {
    const info = (await schedule.describe()).info;
    run = [...info.runningActions, ...info.recentActions.map((a) => a.action)].map((a) => a.workflow).find((w) => !known.has(w.workflowId));
    if (!run) {
      if (Date.now() - triggeredAt > 60_000) throw new Error('the archival schedule started no run within 60 s');
      await sleep(100);
    }
  }
  let archivalDone = false;
  let finishedAt = 0;
  const result = temporalClient.workflow
    .getHandle(run.workflowId, run.firstExecutionRunId)
    .result()
    .then((totals: ArchivalTotals) => {
      finishedAt = Date.now();
      archivalDone = true;
      return totals;
    });
  result.catch(() => {
    archivalDone = true;
  });
  log(`archival run ${run.workflowId} started; GET load while it runs…`);
  const done = () => archivalDone;
  for (let r = 1; !archivalDone; r++) {
    await runPhase('during', 'closed', r, done);
    if (archivalDone) break;
    await runPhase('during', 'open', r, done);
  }
  const totals = await result;
  const archivalS = (finishedAt - triggeredAt) / 1000;
  // The run continues as new when its history grows long: count the runs of the chain (visibility may lag: best effort).
  let chainRuns = 0;
  try {
    for await (const _ of temporalClient.workflow.list({ query: `WorkflowId = '${run.workflowId}'` })) chainRuns++;
  } catch {
    chainRuns = 0;
  }
  const { rows: window } = await admin.query<{ seconds: number; n: number }>(
    `SELECT coalesce(extract(epoch FROM max(archived_at) - min(archived_at)), 0)::float8 AS seconds, count(*)::int AS n
     FROM ticket_archives WHERE state = 'archived'`,
  );
  const w = window[0]!;
  const windowS = w.seconds;
  log(
    `archival: ${JSON.stringify({ ...totals, failures: totals.failures.length })} in ${archivalS.toFixed(1)} s (${(totals.archived / archivalS).toFixed(1)} tickets/s)`,
  );
  const afterArchival = await sizes(admin);
  const objectsAfter = folderBytes(objectsDir);

  // ---- after -------------------------------------------------------------------------------------------------------
  log('after archival (no archival running)…');
  for (let r = 1; r <= s.baselineRounds; r++) {
    await runPhase('after', 'closed', r, never);
    await runPhase('after', 'open', r, never);
  }
  sampler.setPhase('vacuum');

  log('VACUUM…');
  await admin.query(`VACUUM ${HOT_TABLES.join(', ')}`);
  const afterVacuum = await sizes(admin);
  let afterFull: Sizes | undefined;
  if (s.vacuumFull) {
    log('VACUUM FULL of the hot ticket tables…');
    await admin.query(`VACUUM FULL ${HOT_TABLES.join(', ')}`);
    afterFull = await sizes(admin);
  }
  sampler.stop();

  // Every seeded ticket archived, none left hot.
  const { rows: left } = await admin.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM tickets WHERE status = 'closed' AND closed_at < now() - make_interval(days => $1)`,
    [runConfig.ARCHIVE_AFTER_DAYS],
  );

  const { text, missed } = render({
    machine,
    settings: s,
    batchSize,
    ticketsPerSecond: runConfig.ARCHIVE_TICKETS_PER_SECOND,
    shape,
    seedS,
    objectBytes,
    phases,
    totals,
    archivalS,
    chainRuns,
    windowS,
    archiveRows: w.n,
    leftHot: left[0]!.n,
    sizes: { before, afterArchival, afterVacuum, ...(afterFull ? { afterFull } : {}) },
    objects: { before: objectsBefore, after: objectsAfter },
    usage: (phase) => {
      const cpu = (name: string) => sampler.summary(name, phase)?.avgCpuPct;
      const services = ['api', 'worker', 'temporal dev server'];
      // The bench's tree holds the services it spawned: its own share (the load generators) is the difference.
      const tree = cpu('bench (load)');
      const own =
        tree === undefined
          ? undefined
          : Math.max(
              0,
              services.reduce((rest, name) => rest - (cpu(name) ?? 0), tree),
            );
      return [
        ...[...services, ...(postmaster ? ['postgres (all backends)'] : [])].map((name) => ({ name, cpu: cpu(name) })),
        { name: 'bench (load generators)', cpu: own },
      ];
    },
    loadAtEnd: loadAverage(),
    minutes: (Date.now() - benchStarted) / 60_000,
  });
  console.log(`\n${text}\n`);
  const small = s.tickets < FULL_TICKETS;
  if (process.env.BENCH_RESULTS_FILE || !small) {
    writeSection(RESULTS_FILE, BEGIN, END, text, PREAMBLE);
    log(`wrote the bench-archival section of ${process.env.BENCH_RESULTS_FILE || RESULTS_FILE}`);
  } else {
    log(`a run of ${s.tickets} < ${FULL_TICKETS} tickets: bench/RESULTS.md left as it is (set BENCH_RESULTS_FILE to write the section elsewhere)`);
  }
  return process.env.BENCH_STRICT === '1' && missed > 0 ? 1 : 0;
}

/** The PostgreSQL server's postmaster: the parent of a backend (when the server runs on this machine and /proc shows it). */
function postmasterOf(backendPid: number): number | undefined {
  try {
    const text = readFileSync(`/proc/${backendPid}/stat`, 'utf8');
    const ppid = Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[1]);
    return Number.isFinite(ppid) && ppid > 1 ? ppid : undefined;
  } catch {
    return undefined;
  }
}

// ---- report ------------------------------------------------------------------------------------------------------------

const ms = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? '–' : v < 10 ? v.toFixed(2) : v.toFixed(1));
const num = (v: number) => (Number.isNaN(v) ? '–' : v.toFixed(v < 100 ? 1 : 0));

function render(r: {
  machine: Machine;
  settings: Settings;
  batchSize: number;
  /** The worker's pacing (ARCHIVE_TICKETS_PER_SECOND; 0: unpaced). */
  ticketsPerSecond: number;
  shape: { messages: number; events: number; sla: number; attachments: number; audit: number };
  seedS: number;
  objectBytes: number;
  phases: Phase[];
  totals: ArchivalTotals;
  archivalS: number;
  chainRuns: number;
  windowS: number;
  archiveRows: number;
  leftHot: number;
  sizes: { before: Sizes; afterArchival: Sizes; afterVacuum: Sizes; afterFull?: Sizes };
  objects: { before: Record<string, { bytes: number; files: number }>; after: Record<string, { bytes: number; files: number }> };
  usage: (phase: string) => { name: string; cpu: number | undefined }[];
  loadAtEnd: string;
  minutes: number;
}): { text: string; missed: number } {
  const { machine: m, settings: s, phases, totals } = r;
  const of = (stage: Stage, kind: LoadKind) => phases.filter((p) => p.stage === stage && p.kind === kind);
  const base = { closed: pooled(of('baseline', 'closed')), open: pooled(of('baseline', 'open')) };
  const during = { closed: pooled(of('during', 'closed')), open: pooled(of('during', 'open')) };
  const after = { closed: pooled(of('after', 'closed')), open: pooled(of('after', 'open')) };
  /** Without archival: the rounds before it and after it together (drift over the run evens out). */
  const without = {
    closed: pooled([...of('baseline', 'closed'), ...of('after', 'closed')]),
    open: pooled([...of('baseline', 'open'), ...of('after', 'open')]),
  };
  const ratioTo = (x: Sample | undefined) => (during.closed && x ? during.closed.rps / x.rps : Number.NaN);
  const ratio = ratioTo(without.closed);
  const rate = totals.archived / r.archivalS;
  const { before, afterArchival, afterVacuum, afterFull } = r.sizes;

  const verdicts: { label: string; met: boolean; detail: string }[] = [];
  verdicts.push({
    label: `#14: archive ${s.tickets.toLocaleString('en-US')} closed tickets with messages and attachments`,
    met: totals.archived === s.tickets && totals.failed === 0 && r.leftHot === 0,
    detail:
      `**${num(rate)} tickets/s** (${totals.archived} archived, ${totals.skipped} skipped, ${totals.failed} failed in ${r.archivalS.toFixed(1)} s, trigger → result); ` +
      `hot ticket tables ${mb(hotBytes(before))} → ${mb(hotBytes(afterArchival))} MiB (after VACUUM ${mb(hotBytes(afterVacuum))}` +
      `${afterFull ? `, after VACUUM FULL ${mb(hotBytes(afterFull))}` : ''} MiB); database ${mb(before.database)} → ${mb(afterArchival.database)} MiB` +
      `${afterFull ? ` (${mb(afterFull.database)} after VACUUM FULL)` : ''}`,
  });
  const openP95 = during.open?.p95 ?? Number.NaN;
  verdicts.push({
    label: `#14: authenticated GET p95 < ${TARGET_P95_MS} ms while archival runs (open loop, ${s.rate} GET/s)`,
    met: openP95 < TARGET_P95_MS && (during.open?.errors ?? 1) === 0,
    detail: during.open
      ? `p95 **${ms(openP95)} ms** (p50 ${ms(during.open.p50)}, p99 ${ms(during.open.p99)}; ${during.open.ok} requests, ${during.open.errors} errors, ${during.open.late} late) ` +
        `vs ${ms(without.open?.p95)} ms without archival`
      : 'no open-loop phase ran during archival (it finished first): not measured',
  });
  verdicts.push({
    label: `#14: authenticated GET p95 < ${TARGET_P95_MS} ms while archival runs (closed loop, ${s.connections} connections: saturating)`,
    met: (during.closed?.p95 ?? Number.NaN) < TARGET_P95_MS,
    detail: during.closed
      ? `p95 **${ms(during.closed.p95)} ms** (p50 ${ms(during.closed.p50)}, p99 ${ms(during.closed.p99)}) vs ${ms(without.closed?.p95)} ms without archival`
      : '–',
  });
  verdicts.push({
    label: `#14: GET throughput while archival runs ≥ ${TARGET_RATIO * 100} % of the same GET without it (closed loop, same run)`,
    met: ratio >= TARGET_RATIO,
    detail:
      `**${pct(ratio)}**: ${num(during.closed?.rps ?? Number.NaN)} req/s during vs ${num(without.closed?.rps ?? Number.NaN)} req/s without ` +
      `(${num(base.closed?.rps ?? Number.NaN)} before, ${num(after.closed?.rps ?? Number.NaN)} after: ${pct(ratioTo(base.closed))} / ${pct(ratioTo(after.closed))})`,
  });

  const L: string[] = [];
  L.push(
    `_Generated by \`npm run bench:archival\` on ${m.date} (${r.minutes.toFixed(1)} min). Everything between the bench-archival markers is overwritten by the next run._`,
  );
  L.push('', '## Archival of closed tickets (issue #14)', '');
  if (s.tickets < FULL_TICKETS || s.phaseS < 10)
    L.push(`> ⚠ A small run (${s.tickets} tickets, ${s.phaseS} s phases): a smoke test of the harness, not a measurement.`, '');
  L.push('### Summary', '');
  L.push(
    table(
      ['target', 'result', 'detail'],
      verdicts.map((v) => [v.label, `**${v.met ? 'MET' : 'NOT MET'}**`, v.detail]),
      3,
    ),
  );
  L.push('');
  L.push('### Machine', '');
  L.push(`- CPU: ${m.cpu}, ${m.cores} cores; RAM ${m.ramGiB} GiB; ${m.os}; Node.js ${m.node}`);
  L.push(`- PostgreSQL ${m.postgres}; Redis ${m.redis}; Temporal CLI: ${m.temporalCli}`);
  L.push(`- Code: ${m.code}`);
  L.push(`- Load average (1/5/15 min) at start: ${m.loadAverage}; at end: ${r.loadAtEnd}`);
  L.push(
    `- Everything on this one machine: PostgreSQL, Redis, the Temporal dev server, the worker, the API, the object store's directory and the load generators share its ${m.cores} cores and its disk.`,
  );
  L.push('');
  L.push('### Parameters', '');
  L.push(
    `BENCH_ARCHIVE_TICKETS=${s.tickets} BENCH_ARCHIVE_TEMPLATES=${s.templates} BENCH_ARCHIVE_PHASE_SECONDS=${s.phaseS} BENCH_ARCHIVE_BASELINE_ROUNDS=${s.baselineRounds} ` +
      `BENCH_ARCHIVE_GET_CONNECTIONS=${s.connections} BENCH_ARCHIVE_GET_RATE=${s.rate} BENCH_ARCHIVE_WARMUP_SECONDS=${s.warmupS} BENCH_ARCHIVE_VACUUM_FULL=${s.vacuumFull ? 1 : 0}`,
  );
  L.push(
    '',
    `Worker: ARCHIVE_BATCH_SIZE=${r.batchSize}, ARCHIVE_TICKETS_PER_SECOND=${r.ticketsPerSecond}${r.ticketsPerSecond === 0 ? ' (unpaced)' : ''}, ARCHIVE_AFTER_DAYS=90, ARCHIVE_STORAGE_CLASS=STANDARD, OBJECT_STORAGE=local (a scratch directory); the schedule's cron set never to fire (the run triggers it).`,
    '',
  );
  L.push('### Method', '');
  for (const line of [
    'One machine, loopback only, one run: a Temporal dev server (in memory, headless), a scratch PostgreSQL database migrated as the owner, a Redis key prefix, the local-directory object store in a scratch data directory, the real worker (`workers/main.ts`: archival workflow and activities) and the real API (`api/main.ts`), NODE_ENV=production, LOG_LEVEL=warn, the least-privilege database role. All removed at the end.',
    `**Tickets (set-up, not timed)**: ${s.templates} template tickets are worked through the API: created (with its opening message), a public reply with a PNG file, an internal note with a text file (files of 2–20 KiB), a customer reply, solved, closed, their workflow runs completed; an SLA policy applies (first reply, next reply, resolution). Each template has ${r.shape.messages} messages, ${r.shape.events} timeline events, ${r.shape.sla} SLA records, ${r.shape.attachments} linked attachments, ${r.shape.audit} audit entries. The ${s.tickets} tickets to archive are **clones of the templates' rows, inserted with SQL as the owner** (creating them through the API would take far longer than the measurement): every id of the ticket, its messages and attachments renamed wherever it appears (storage keys and event payloads included), every timestamp column moved the same 100–399 days back (the JSON payloads keep the templates' times), audit entries re-inserted through the audit trigger (which chains them and stamps them now). Each clone's files are written to the object store under their own keys, with the template file's bytes (so the SHA-256 and size the rows record hold). ${r.seedS.toFixed(0)} s, ${mb(r.objectBytes)} MiB of files. Then VACUUM ANALYZE and CHECKPOINT. Their workflow runs do not exist (as for tickets closed longer ago than Temporal's retention), so the "run still open" check answers not-found.`,
    `**Archival**: the worker's archival schedule is triggered as \`npm run admin -- archive-now\` does; the run walks due tickets oldest first, ${r.batchSize} per activity, each exported (document + file copies), read back and verified, then recorded and removed from the hot tables in one transaction, then its hot files deleted. **tickets/s** = tickets archived ÷ seconds from the trigger to the run's result (the final sweep of unpurged sources included). First to last archive row: ${r.windowS.toFixed(1)} s (${num(r.archiveRows / Math.max(r.windowS, 1e-9))} tickets/s).`,
    `**Sizes**: \`pg_database_size\` of the scratch database and \`pg_total_relation_size\` (heap + indexes + TOAST) of each table, before archival (after the seeding's VACUUM ANALYZE), right after the run, after a plain VACUUM of the hot tables, and${r.sizes.afterFull ? '' : ' (not this run)'} after VACUUM FULL of them. Archival DELETEs rows; PostgreSQL keeps the files and reuses the space (a plain VACUUM marks it free, it does not give it back to the OS), so the size right after, and after VACUUM, shows how much the tables stop growing rather than a smaller file; VACUUM FULL (an exclusive lock: a maintenance window, not something production would run casually) rewrites them and shows the live data. audit_log is append-only (hash-chained): archival adds an entry per ticket and removes none; webhook_events gets a ticket.archived notice per ticket.`,
    `**GET load**: \`GET /api/v1/tickets/:id\` of one open ticket of the same tenant, \`Authorization: Bearer\` of the tenant's admin (a JWT from POST /api/v1/auth/login), from this process. *Closed loop*: autocannon, ${s.connections} keep-alive connections, no pipelining, latency as autocannon reports it — saturates the machine, so its req/s is the API's capacity on what the other processes leave it. *Open loop*: ${s.rate} GET/s on a fixed schedule, keep-alive, latency from each request's scheduled time (no coordinated omission; a request ≥ ${LATE_MS} ms behind schedule counts late; at most ${OPEN_MAX_IN_FLIGHT} in flight). Phases of ${s.phaseS} s: a ${s.warmupS} s warm-up, then ${s.baselineRounds} × (closed, open) without archival, then (closed, open) alternating while the archival run goes, each cut short when it completes, then ${s.baselineRounds} × (closed, open) after. Figures of a stage pool every request of its phases (percentiles nearest-rank over all their latencies, req/s = requests ÷ summed phase time). *Without archival* pools the rounds before and after it (the machine's drift over the run evens out; the hot tables are smaller after, which a GET by id hardly notices). The ratio compares closed-loop req/s during archival with that, in the same run; the p95 target is judged on the open loop (a fixed, moderate rate: the latency a client sees), the closed loop's p95 is shown too (it is the latency at saturation).`,
    'Honest caveats: the machine is shared by everything (and by the load generator: autocannon and the open-loop client run in the bench process, their CPU is in the table below), so the closed-loop ratio measures how much of the machine archival takes from the API, not how the API would fare on its own node. Archival itself runs one ticket at a time (a workflow with one activity per batch), so its demand is bounded; its rate during the closed-loop phases (where the API competes for CPU) is lower than during the open-loop phases (see "archived/s" per phase). The clones share their templates\' bytes and shapes: real tickets vary more in size. The local object store is the disk of this machine, not S3: copies and read-backs are cheap here, slower (and network-bound) on S3.',
  ])
    L.push(`- ${line}`);
  L.push('');

  L.push('### Results', '');
  L.push('#### Archival', '');
  L.push(
    table(
      [
        'tickets',
        'archived',
        'skipped',
        'failed',
        'sources purged by the sweep',
        'seconds (trigger → result)',
        'tickets/s',
        'workflow runs (continue-as-new)',
        'archive rows',
        'due tickets left hot',
      ],
      [
        [
          String(s.tickets),
          String(totals.archived),
          String(totals.skipped),
          String(totals.failed),
          String(totals.purged),
          r.archivalS.toFixed(1),
          `**${num(rate)}**`,
          r.chainRuns ? String(r.chainRuns) : '–',
          String(r.archiveRows),
          String(r.leftHot),
        ],
      ],
    ),
  );
  if (totals.failures.length) L.push('', `First failure: \`${JSON.stringify(totals.failures[0]).slice(0, 300).replace(/`/g, "'")}\``);
  L.push('');

  L.push('#### Hot database size', '');
  const sizeCols = [
    ['before', before],
    ['right after archival', afterArchival],
    ['after VACUUM', afterVacuum],
    ...(afterFull ? [['after VACUUM FULL', afterFull] as const] : []),
  ] as const;
  const rows: string[][] = [];
  for (const t of [...HOT_TABLES, ...KEPT_TABLES]) {
    rows.push([
      `${t}${(KEPT_TABLES as readonly string[]).includes(t) ? ' (written by archival)' : ''}`,
      `${before.tables[t]!.rows} → ${afterArchival.tables[t]!.rows}`,
      ...sizeCols.map(([, z]) => mb(z.tables[t]!.bytes)),
    ]);
  }
  rows.push(['**hot ticket tables**', '', ...sizeCols.map(([, z]) => `**${mb(hotBytes(z))}**`)]);
  rows.push(['**database** (pg_database_size)', '', ...sizeCols.map(([, z]) => `**${mb(z.database)}**`)]);
  L.push(table(['relation (MiB)', 'rows before → after', ...sizeCols.map(([name]) => name)], rows));
  L.push('');
  const folder = (o: Record<string, { bytes: number; files: number }>, k: string) => (o[k] ? `${mb(o[k].bytes)} MiB, ${o[k].files} files` : '0');
  L.push(
    `Object store: attachments/ ${folder(r.objects.before, 'attachments')} before → ${folder(r.objects.after, 'attachments')} after; ` +
      `archive/ ${folder(r.objects.before, 'archive')} before → ${folder(r.objects.after, 'archive')} after.`,
    '',
  );

  L.push('#### GET /api/v1/tickets/:id', '');
  const line = (label: string, kind: LoadKind, x: Sample | undefined, archived: number, seconds: number): string[] => [
    label,
    kind === 'closed' ? `closed, ${s.connections} conn.` : `open, ${s.rate}/s`,
    x ? x.seconds.toFixed(1) : '–',
    x ? num(x.rps) : '–',
    ms(x?.p50),
    ms(x?.p95),
    ms(x?.p99),
    ms(x?.max),
    x ? String(x.ok) : '–',
    x ? String(x.errors) : '–',
    x?.late !== undefined ? String(x.late) : '–',
    seconds > 0 ? num(archived / seconds) : '–',
  ];
  const head = ['phase', 'load', 's', 'req/s', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'ok', 'errors', 'late', 'archived/s'];
  const stageRows: string[][] = [];
  for (const [stage, label] of [
    ['baseline', 'without archival (before)'],
    ['during', '**during archival**'],
    ['after', 'without archival (after)'],
  ] as const) {
    for (const kind of ['closed', 'open'] as const) {
      const ps = of(stage, kind);
      const x = { baseline: base, during, after }[stage][kind];
      stageRows.push(
        line(
          label,
          kind,
          x,
          ps.reduce((sum, p) => sum + p.archived, 0),
          ps.reduce((sum, p) => sum + p.seconds, 0),
        ),
      );
    }
  }
  for (const kind of ['closed', 'open'] as const) stageRows.push(line('without archival (before + after)', kind, without[kind], 0, 0));
  L.push(table(head, stageRows, 2));
  L.push('');
  L.push(
    `Closed-loop req/s during / without: **${pct(ratio)}** (/ before ${pct(ratioTo(base.closed))}, / after ${pct(ratioTo(after.closed))}); ` +
      `open-loop p95 during / without: ${ms(during.open?.p95)} / ${ms(without.open?.p95)} ms.`,
    '',
  );
  L.push('Every phase:', '');
  L.push(
    table(
      head,
      phases.map((p) => line(`${p.stage} #${p.round}`, p.kind, p.sample, p.archived, p.seconds)),
      2,
    ),
  );
  const firstError = phases.find((p) => p.sample.firstError)?.sample.firstError;
  if (firstError) L.push('', `First error: \`${firstError.slice(0, 300).replace(/`/g, "'")}\``);
  L.push('');

  L.push('### CPU by phase', '');
  L.push(
    "Average % of one core over the phase (all its rounds), per process tree (/proc, sampled every second); postgres is the server with all its backends; the bench's own share is its process tree less the services it spawned (autocannon and the open-loop client run in it). 200 % is the whole machine.",
    '',
  );
  const cpuPhases = ['baseline-closed', 'baseline-open', 'during-closed', 'during-open', 'after-closed', 'after-open'];
  const names = r.usage(cpuPhases[0]!).map((x) => x.name);
  L.push(
    table(
      ['phase', ...names],
      cpuPhases.map((phase) => [phase, ...r.usage(phase).map((x) => (x.cpu === undefined ? '–' : x.cpu.toFixed(0)))]),
    ),
  );
  return { text: L.join('\n').trimEnd(), missed: verdicts.filter((v) => !v.met).length };
}

runBench(TAG, main, readSettings().timeoutS * 1000);
