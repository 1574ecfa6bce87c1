/**
 * `npm start` supervises its stack: a worker or API killed with -9 is restarted (and said so in the log),
 * the stack serves again, and Ctrl-C (SIGINT) stops everything it started, the Temporal dev server included.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, ROOT } from '../support/processes';
import { createTenant, http, startStack, type Tenant, type TestStack } from '../support/stack';

let stack: TestStack;
let tenant: Tenant;
let start: ChildProcess | undefined;
let output = '';
const dataDir = mkdtempSync(path.join(tmpdir(), 'deskflow-start-'));

beforeAll(async () => {
  stack = await startStack();
  tenant = await createTenant(stack, 'Supervised');
});
afterAll(async () => {
  if (start && start.exitCode === null && start.signalCode === null) start.kill('SIGKILL');
  await stack?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function until<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; npm start said:\n${output}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The pid of the newest "<name> started (pid N)" line after `after` characters of output. */
const startedPid = (name: string, after = 0) => {
  const all = [...output.slice(after).matchAll(new RegExp(`\\[deskflow\\] ${name} started \\(pid (\\d+)\\)`, 'g'))];
  return all.length ? Number(all[all.length - 1]![1]) : undefined;
};

it('restarts a killed worker and API, and Ctrl-C leaves no process behind', async () => {
  const [port, temporalPort, uiPort] = [await freePort(), await freePort(), await freePort()];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOST: '127.0.0.1',
    PORT: String(port),
    TEMPORAL_DEV_PORT: String(temporalPort),
    TEMPORAL_UI_PORT: String(uiPort),
    TEMPORAL_TASK_QUEUE: `start-${randomUUID()}`,
    DATA_DIR: dataDir,
    DEMO_SEED: 'false',
    LOG_LEVEL: 'warn',
  };
  delete env.TEMPORAL_ADDRESS; // the embedded dev server, as `npm start` runs by default
  start = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'platform/cli/start.ts')], { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  start.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  start.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  const api = { url: `http://127.0.0.1:${port}` };
  const ready = async () => ((await http(api, 'GET', '/readyz').catch(() => ({ status: 0 }))).status === 200 ? true : undefined);
  const createTicket = async () =>
    (
      await http(api, 'POST', '/api/v1/tickets', {
        headers: tenant.headers,
        body: { subject: 'Supervised', description: 'Is anyone running?', customer_id: tenant.customerId },
      })
    ).status;

  const devServer = await until('the dev server', () => startedPid('Temporal dev server'));
  const worker = await until('the worker', () => startedPid('worker'));
  const apiPid = await until('the API', () => startedPid('api'));
  await until('readiness', ready);
  expect(await until('a first ticket', async () => ((await createTicket()) === 201 ? 201 : undefined))).toBe(201);
  // The durable dev server writes ahead (WAL), not through a rollback journal synced at every commit (issue #12).
  expect(existsSync(path.join(dataDir, 'temporal.sqlite-wal'))).toBe(true);

  let mark = output.length;
  process.kill(worker, 'SIGKILL');
  await until('the worker crash to be logged', () => (/worker exited \(SIGKILL\); restarting in \d+ s/.test(output.slice(mark)) ? true : undefined));
  const worker2 = await until('the worker restart', () => startedPid('worker', mark));
  expect(worker2).not.toBe(worker);
  expect(await createTicket()).toBe(201); // served by the restarted worker

  mark = output.length;
  process.kill(apiPid, 'SIGKILL');
  await until('the API crash to be logged', () => (/api exited \(SIGKILL\); restarting in \d+ s/.test(output.slice(mark)) ? true : undefined));
  const api2 = await until('the API restart', () => startedPid('api', mark));
  expect(api2).not.toBe(apiPid);
  await until('readiness after the restart', ready);
  expect(await createTicket()).toBe(201);

  const exited = new Promise<number | null>((resolve) => start!.once('exit', (code) => resolve(code)));
  start.kill('SIGINT');
  expect(await exited).toBe(0);
  expect(output).toContain('[deskflow] stopped');
  expect([devServer, worker2, api2].filter(alive)).toEqual([]);
}, 240_000);
