/**
 * The API's and the worker's Prometheus metrics, scraped after real traffic. The suite runs its own database, task
 * queues and Redis prefix (one API process, one worker process) so no other suite's worker sends its webhooks or runs
 * its SLA timers: what the worker's counters say is this suite's traffic only.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import type { ApiProcess } from '../support/api-process';
import { type IsolatedStack, startIsolatedStack } from '../support/isolated-stack';
import { freePort, ROOT } from '../support/processes';
import { createTenant, http, type Tenant, type TestStack } from '../support/stack';
import { createPolicy, eventually, openTicket } from '../sla/support';
import { type Receiver, seedEndpoint, startReceiver } from '../webhooks/support';

jest.setTimeout(120_000);

const token = randomBytes(24).toString('base64url');
let isolated: IsolatedStack;
let env: Record<string, string>;
let api: ApiProcess;
let stack: TestStack;
let tenant: Tenant;
let receiver: Receiver;
let gone: Receiver;
let apiMetrics: string;
let workerMetrics: string;

beforeAll(async () => {
  const [apiPort, workerPort] = [await freePort(), await freePort()];
  apiMetrics = `http://127.0.0.1:${apiPort}/metrics`;
  workerMetrics = `http://127.0.0.1:${workerPort}/metrics`;
  isolated = await startIsolatedStack('metrics', {
    API_METRICS_ADDRESS: `127.0.0.1:${apiPort}`,
    METRICS_TOKEN: token,
    WORKER_METRICS_ADDRESS: `127.0.0.1:${workerPort}`,
  });
  ({ env, api, stack } = isolated);
  tenant = await createTenant(stack, 'Metrics');
  receiver = await startReceiver();
  await seedEndpoint(stack, tenant.id, receiver.url);
  // A receiver that says its endpoint is gone: each of its deliveries is dead-lettered at once.
  gone = await startReceiver(() => ({ status: 410 }));
  await seedEndpoint(stack, tenant.id, gone.url);
});

afterAll(async () => {
  await Promise.allSettled([receiver?.close(), gone?.close()]);
  await isolated?.close();
});

const scrape = async (url: string, headers: Record<string, string> = {}) => {
  const res = await fetch(url, { headers });
  return { status: res.status, text: await res.text() };
};
const withToken = { Authorization: `Bearer ${token}` };

/** The value of the first sample of `name` whose labels include all of `labels` (NaN when there is none). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const wanted = Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`));
    if (wanted) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return Number.NaN;
}

test('the API metrics are refused without their token, and absent from the public port', async () => {
  expect((await scrape(apiMetrics)).status).toBe(401);
  expect((await scrape(apiMetrics, { Authorization: `Bearer ${token}x` })).status).toBe(401);
  expect((await scrape(apiMetrics, { Authorization: token })).status).toBe(401);
  const pub = await fetch(`${api.url}/metrics`, { headers: withToken });
  expect(pub.status).toBe(404);
  expect(await pub.text()).not.toContain('deskflow_http_request_duration_seconds');
  expect((await scrape(apiMetrics.replace('/metrics', '/other'), withToken)).status).toBe(404);
});

test('after traffic the API exposes each family with sane values', async () => {
  const ws = new WebSocket(`${api.url.replace('http', 'ws')}/api/v1/live`, { headers: { Authorization: tenant.headers.Authorization! } });
  await new Promise<void>((resolve, reject) => {
    ws.once('message', () => resolve());
    ws.once('error', reject);
  });
  const created = await http({ url: api.url }, 'POST', '/api/v1/tickets', {
    headers: tenant.headers,
    body: { subject: 'Metered', description: 'Count me.', customer_id: tenant.customerId },
  });
  expect(created.status).toBe(201);
  for (let i = 0; i < 3; i++) expect((await http({ url: api.url }, 'GET', `/api/v1/tickets/${created.body.id}`, { headers: tenant.headers })).status).toBe(200);
  expect((await http({ url: api.url }, 'GET', `/api/v1/tickets/${randomUUID()}`, { headers: tenant.headers })).status).toBe(404);
  expect((await http({ url: api.url }, 'GET', '/api/v1/nothing-here', { headers: tenant.headers })).status).toBe(404);

  // The Redis round trip is sampled every 5 s.
  const { status, text } = await eventually(
    () => scrape(apiMetrics, withToken),
    (r) => sample(r.text, 'deskflow_redis_roundtrip_seconds_count') >= 1,
    15_000,
  );
  ws.close();
  expect(status).toBe(200);
  const get = { method: 'GET', route: '/api/v1/tickets/:id' };
  // Route templates, not paths: one series for every ticket id; 404s of unknown paths share one `unmatched` series.
  expect(sample(text, 'deskflow_http_request_duration_seconds_count', { ...get, status: '200' })).toBeGreaterThanOrEqual(3);
  expect(sample(text, 'deskflow_http_request_duration_seconds_count', { ...get, status: '404' })).toBeGreaterThanOrEqual(1);
  expect(sample(text, 'deskflow_http_request_duration_seconds_count', { method: 'POST', route: '/api/v1/tickets', status: '201' })).toBe(1);
  expect(sample(text, 'deskflow_http_request_duration_seconds_count', { route: 'unmatched', status: '404' })).toBeGreaterThanOrEqual(1);
  expect(text).not.toContain(created.body.id);
  const sum = sample(text, 'deskflow_http_request_duration_seconds_sum', { ...get, status: '200' });
  expect(sum).toBeGreaterThan(0);
  expect(sum).toBeLessThan(60);
  expect(sample(text, 'deskflow_http_requests_in_flight')).toBe(0);
  expect(sample(text, 'deskflow_live_connections')).toBe(1);
  expect(sample(text, 'deskflow_db_pool_max')).toBe(Number(env.DATABASE_POOL_MAX));
  const inUse = sample(text, 'deskflow_db_pool_connections', { state: 'in_use' });
  const idle = sample(text, 'deskflow_db_pool_connections', { state: 'idle' });
  expect(inUse).toBeGreaterThanOrEqual(0);
  expect(idle).toBeGreaterThanOrEqual(1);
  expect(inUse + idle).toBeLessThanOrEqual(Number(env.DATABASE_POOL_MAX));
  expect(sample(text, 'deskflow_db_pool_connections', { state: 'waiting' })).toBe(0);
  expect(sample(text, 'deskflow_redis_roundtrip_seconds_sum')).toBeLessThan(1);
  // The create is one update-with-start (ExecuteMultiOperation), answered OK (gRPC code 0).
  expect(sample(text, 'deskflow_temporal_client_rpc_duration_seconds_count', { rpc: 'ExecuteMultiOperation', code: '0' })).toBeGreaterThanOrEqual(1);
  expect(sample(text, 'process_cpu_seconds_total')).toBeGreaterThan(0);
});

test('the worker counts webhook attempts and SLA triggers beside the SDK metrics', async () => {
  await createPolicy(stack, tenant, {
    name: 'Metered',
    targets: { normal: { first_reply: 3 / 60 } },
    escalation_rules: [
      { id: 'warn', trigger: { type: 'warning', percent: 50 }, actions: [{ type: 'add_tag', tag: 'warned' }] },
      { id: 'breach', trigger: { type: 'breach' }, actions: [{ type: 'add_tag', tag: 'breached' }] },
    ],
  });
  await openTicket({ ...stack, url: api.url }, tenant);
  const delivered = (text: string) => sample(text, 'deskflow_webhook_attempts', { outcome: 'delivered' });
  // An attempt is counted once its answer is in: poll until the counter has caught up with what the receiver got.
  const { text, received } = await eventually(
    async () => ({ ...(await scrape(workerMetrics)), received: receiver.received.length }),
    (r) => sample(r.text, 'deskflow_sla_triggers', { type: 'breach' }) >= 1 && r.received >= 2 && delivered(r.text) === r.received,
    30_000,
  );
  expect(sample(text, 'deskflow_sla_triggers', { type: 'warning' })).toBe(1);
  expect(sample(text, 'deskflow_sla_triggers', { type: 'breach' })).toBe(1);
  // Lateness: fired minus due, in ms; the design's objective is 2 s.
  expect(sample(text, 'deskflow_sla_trigger_lateness_count', { type: 'breach' })).toBe(1);
  expect(sample(text, 'deskflow_sla_trigger_lateness_sum', { type: 'breach' })).toBeLessThan(2000);
  // Every deliverable event of the tenant went to the live endpoint, each counted once; the gone one's were dead-lettered.
  expect(delivered(text)).toBe(received);
  const deadLettered = await eventually(
    async () => sample((await scrape(workerMetrics)).text, 'deskflow_webhook_dead_letters', { reason: 'gone' }),
    (n) => n === gone.received.length && n >= 1,
  );
  expect(deadLettered).toBe(gone.received.length);
  expect(sample(text, 'temporal_workflow_task_execution_latency_count')).toBeGreaterThan(0);
});

test('every metric the alert rules and the dashboard read is one the API or the worker exports', async () => {
  const rules = readFileSync(path.join(ROOT, 'ops/prometheus/alerts.yml'), 'utf8');
  const dashboard = JSON.parse(readFileSync(path.join(ROOT, 'ops/grafana/deskflow.json'), 'utf8')) as { panels: { targets: { expr: string }[] }[] };
  const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr));
  expect(exprs.length).toBeGreaterThanOrEqual(15);
  const referenced = new Set([rules, ...exprs].join('\n').match(/\b(?:deskflow|temporal)_[a-z_]+/g));
  const exported = `${(await scrape(apiMetrics, withToken)).text}\n${(await scrape(workerMetrics)).text}`;
  const names = new Set(
    exported
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => l.split(/[{ ]/)[0]!),
  );
  // Some SDK metrics appear only after their first event (an eviction, a regular activity): those must at least be in
  // the SDK core's own catalog (the names compiled into its native module), so a misspelt one still fails here.
  const releases = path.join(path.dirname(require.resolve('@temporalio/core-bridge/package.json')), 'releases');
  const native = readdirSync(releases)
    .map((dir) => path.join(releases, dir, 'index.node'))
    .find((f) => existsSync(f));
  if (!native) throw new Error(`no native module of @temporalio/core-bridge under ${releases}`);
  const core = readFileSync(native).toString('latin1');
  const inCatalog = (name: string) => name.startsWith('temporal_') && core.includes(name.replace(/^temporal_/, '').replace(/_(bucket|sum|count)$/, ''));
  // Ours that count rare events (a refused ticket change) are exported after the first one: they must be declared in our code.
  const ours = ['api', 'activities', 'workflows']
    .flatMap((dir) => (readdirSync(path.join(ROOT, dir), { recursive: true }) as string[]).map((f) => path.join(ROOT, dir, f)))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => readFileSync(f, 'utf8'))
    .join('\n');
  const declared = (name: string) => name.startsWith('deskflow_') && ours.includes(`'${name.replace(/_(bucket|sum|count)$/, '')}'`);
  const missing = [...referenced].filter((name) => !names.has(name) && !inCatalog(name) && !declared(name));
  expect(missing).toEqual([]);
  expect(referenced.size).toBeGreaterThanOrEqual(8);
});
