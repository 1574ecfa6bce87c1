/**
 * `npm run bench:new-workflows` (issue #12): why a new ticket's first workflow task gets slower as the worker holds more
 * workflows. Starts a scratch stack (in-memory dev server, the real worker with its metrics, the real API), then runs
 * BENCH_NW_ROUNDS rounds of open-loop creates at BENCH_NW_RATE/s for BENCH_NW_SECONDS each, with messages to one
 * existing ticket at 2/s beside them (an existing workflow's task, for comparison). Per round it reads the client
 * latencies and, from the worker's Prometheus endpoint, the mean of each part of a workflow task (the SDK's histograms:
 * schedule-to-start, execution, local-activity execution) and the sticky cache size, and the worker's CPU per write
 * (/proc). Prints one row per round; writes nothing to bench/RESULTS.md (the reading goes into its notes).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import pg from 'pg';
import { createFieldCrypto } from '../platform/field-crypto';
import { customerStore } from '../stores/customers';
import { userStore } from '../stores/users';
import { freePort } from '../test/support/processes';
import { login, operatorOf } from '../test/support/stack';
import { type Cleanup, numberEnv, requireServices, runBench } from './lib/harness';
import { openLoop, postJson } from './lib/load';
import { ProcSampler } from './lib/proc-sampler';
import { table } from './lib/report';
import { scratchNames, startScratch } from './lib/scratch';
import { serviceGroup, waitForHttp } from './lib/services';
import { percentile } from './lib/stats';

const TAG = 'bench-nw';
const WORKER_READY = "state: 'RUNNING'";
const log = (msg: string) => console.log(`[${TAG}] ${msg}`);

/** Sum and count of every histogram (all label sets) on a Prometheus text page. */
function histograms(text: string): Map<string, { sum: number; count: number }> {
  const out = new Map<string, { sum: number; count: number }>();
  for (const line of text.split('\n')) {
    const m = /^(\w+)_(sum|count)(?:\{[^}]*\})? (\S+)$/.exec(line);
    if (!m) continue;
    const h = out.get(m[1]!) ?? { sum: 0, count: 0 };
    h[m[2] as 'sum' | 'count'] += Number(m[3]);
    out.set(m[1]!, h);
  }
  return out;
}
const gauge = (text: string, name: string) =>
  text
    .split('\n')
    .filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
    .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);

async function main(cleanup: Cleanup): Promise<number> {
  const rounds = numberEnv('BENCH_NW_ROUNDS', 6, { max: 50 });
  const rate = numberEnv('BENCH_NW_RATE', 10, { integer: false, max: 200 });
  const seconds = numberEnv('BENCH_NW_SECONDS', 40, { max: 600 });
  const sc = scratchNames('nw');
  await requireServices(sc.serverUrl, sc.base.REDIS_URL);
  const metricsAddress = `127.0.0.1:${await freePort()}`;
  const { env, runConfig } = await startScratch(sc, cleanup, log, rounds * seconds + 300, {
    TEMPORAL_TASK_QUEUE: `bench-nw-${sc.runId}`,
    WORKER_METRICS_ADDRESS: metricsAddress,
  });
  const admin = new pg.Pool({ connectionString: sc.adminDatabaseUrl, max: 2 });
  cleanup.add('owner pool', () => admin.end());
  const tenantId = randomUUID();
  const email = `bench-nw-${sc.runId.replace(/_/g, '-')}@bench.test`;
  const password = randomBytes(18).toString('base64url');
  await admin.query('INSERT INTO tenants (id, name) VALUES ($1, $2)', [tenantId, 'Bench NW Inc']);
  await userStore(admin).create(operatorOf(tenantId), { email, password, name: 'Bench agent', role: 'agent' });
  const customer = await customerStore(admin, createFieldCrypto(runConfig)).create(operatorOf(tenantId), randomUUID(), {
    name: 'Bench Customer',
    email: `customer-${sc.runId.replace(/_/g, '-')}@example.com`,
    phone: null,
    external_id: null,
  });

  const { start, assertAllRunning } = serviceGroup(env, cleanup);
  const worker = start('worker', 'workers/main.ts');
  const port = await freePort();
  const api = start('api', 'api/main.ts', { PORT: String(port) });
  const apiUrl = `http://127.0.0.1:${port}`;
  await Promise.all([worker.waitForOutput(WORKER_READY, 90_000), waitForHttp(api, `${apiUrl}/readyz`, {}, 90_000)]);
  const agent = new http.Agent({ keepAlive: true });
  cleanup.add('HTTP agent', async () => agent.destroy());
  const { token } = await login({ url: apiUrl }, email, password);
  const headers = { Authorization: `Bearer ${token}`, Accept: 'application/json' };
  const createBody = JSON.stringify({ subject: 'New workflow', description: 'bench/new-workflows.ts', customer_id: customer.id });
  const target = (await postJson(agent, new URL('/api/v1/tickets', apiUrl), headers, createBody)) as { id: string };
  const messageBody = JSON.stringify({ body: 'A reply.', visibility: 'public' });

  const sampler = new ProcSampler([{ name: 'worker', pid: worker.child.pid! }]);
  sampler.start();
  cleanup.add('sampler', async () => sampler.stop());
  const scrape = async () => (await fetch(`http://${metricsAddress}/metrics`)).text();

  const rows: string[][] = [];
  for (let round = 1; round <= rounds; round++) {
    const before = await scrape();
    sampler.setPhase(`round ${round}`);
    const creates: number[] = [];
    const messages: number[] = [];
    const timed = (into: number[], url: string, body: string) => async () => {
      const t0 = performance.now();
      await postJson(agent, new URL(url, apiUrl), headers, body);
      into.push(performance.now() - t0);
    };
    await Promise.all([
      openLoop(rate, seconds, 2000, timed(creates, '/api/v1/tickets', createBody), assertAllRunning),
      openLoop(2, seconds, 2000, timed(messages, `/api/v1/tickets/${target.id}/messages`, messageBody), assertAllRunning),
    ]);
    sampler.setPhase('between');
    const after = await scrape();
    const [h0, h1] = [histograms(before), histograms(after)];
    const mean = (name: string) => {
      const a = h0.get(name) ?? { sum: 0, count: 0 };
      const b = h1.get(name);
      return b && b.count > a.count ? (b.sum - a.sum) / (b.count - a.count) : Number.NaN;
    };
    const sorted = (xs: number[]) => Float64Array.from(xs).sort();
    const u = sampler.summary('worker', `round ${round}`);
    const cpuMsPerWrite = u ? (u.cpuSeconds * 1000) / (creates.length + messages.length) : Number.NaN;
    const f = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : '–');
    rows.push([
      String(round),
      String(gauge(before, 'temporal_sticky_cache_size')),
      f(percentile(sorted(creates), 50)),
      f(percentile(sorted(creates), 95)),
      f(percentile(sorted(messages), 50)),
      f(mean('temporal_workflow_task_schedule_to_start_latency')),
      f(mean('temporal_workflow_task_execution_latency')),
      f(mean('temporal_local_activity_execution_latency')),
      f(cpuMsPerWrite),
    ]);
    log(`round ${round}: ${rows.at(-1)!.join(' | ')}`);
  }
  console.log(
    `\n${table(
      [
        'round',
        'cached workflows at start',
        'create p50 ms',
        'create p95 ms',
        'message p50 ms',
        'WFT schedule→start mean ms',
        'WFT execution mean ms',
        'local activity mean ms',
        'worker CPU ms per write',
      ],
      rows,
    )}\n`,
  );
  return 0;
}

runBench(TAG, main, 60 * 60_000);
