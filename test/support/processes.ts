/** Spawning our own processes (workers, migrations) the way production runs them. */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { pgConnection, withDatabase } from '../../platform/backup/pg-connection';

export const ROOT = path.resolve(__dirname, '..', '..');

export function runTs(entry: string, env: NodeJS.ProcessEnv): void {
  const result = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, entry)], { env, cwd: ROOT, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${entry} failed (${result.status}):\n${result.stdout}\n${result.stderr}`);
}

/** Its log line once it has warmed up and counts as ready (platform/worker-readiness.ts). */
const WORKER_WARM = '"msg":"worker warm"';

/** Starts a worker process and resolves once it polls its task queue and has warmed up. */
export async function startWorkerProcess(env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'workers/main.ts')], {
    env: { ...env, LOG_LEVEL: 'info' },
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker did not start in 60 s:\n${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes(WORKER_WARM)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`worker exited with ${code} before starting:\n${output}`));
    });
  });
  child.stdout!.resume();
  child.stderr!.resume();
  return child;
}

/**
 * Sends `signal` and resolves once the process has exited; one still running after `killAfterMs` (longer than a
 * worker's 10 s shutdown grace) is killed, so a process that hangs in its shutdown cannot hold the run.
 */
export function stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', killAfterMs = 30_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.once('error', reject);
  });
}

export interface AdminRun {
  /** The exit code; null when it was killed at its deadline. */
  code: number | null;
  out: string;
  err: string;
  /** stdout and stderr as they arrived. */
  output: string;
}

/**
 * `npm run admin -- <args>` as an operator runs it, asynchronously (the test's own servers keep answering meanwhile) and
 * bounded: at the deadline the command and everything it started (pg_dump, tsx's esbuild) are killed, and the result
 * says so with what the process group and its database sessions were doing, so a hang fails one test with the reason
 * instead of keeping jest (and CI) waiting on the child's pipes.
 */
export function runAdmin(args: string[], env: NodeJS.ProcessEnv = process.env, { timeoutMs = 60_000 } = {}): Promise<AdminRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'platform/cli/admin.ts'), ...args], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group, so the deadline reaches its children too
    });
    let out = '';
    let err = '';
    let output = '';
    let hung: string | null = null;
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      output += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
      output += c.toString();
    });
    const timer = setTimeout(() => {
      void whatItWasDoing(child.pid!, env.DATABASE_ADMIN_URL).then((report) => {
        hung = `\n[runAdmin] killed after ${timeoutMs / 1000} s: admin ${args.join(' ')}\n${report}`;
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          // already gone
        }
      });
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code: hung ? null : code, out: out.trim(), err: (err + (hung ?? '')).trim(), output: output + (hung ?? '') });
    });
  });
}

/** The process group's processes and the database's sessions (with what blocks them): why a command hung. */
async function whatItWasDoing(pgid: number, databaseUrl: string | undefined): Promise<string> {
  const ps = spawnSync('ps', ['-o', 'pid,ppid,stat,etime,wchan:20,args', '-g', String(pgid)], { encoding: 'utf8' });
  let sessions = '(no DATABASE_ADMIN_URL)';
  if (databaseUrl) {
    const client = new pg.Client({ connectionString: withDatabase(databaseUrl, 'postgres'), connectionTimeoutMillis: 5000 });
    try {
      await client.connect();
      const { rows } = await client.query(
        `SELECT pid, application_name, state, wait_event_type, wait_event, pg_blocking_pids(pid) AS blocked_by,
                now() - xact_start AS in_transaction, left(query, 160) AS query
         FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
        [pgConnection(databaseUrl).database],
      );
      sessions = rows.map((r) => JSON.stringify(r)).join('\n') || '(none)';
    } catch (error) {
      sessions = `(could not read pg_stat_activity: ${(error as Error).message})`;
    } finally {
      await client.end().catch(() => undefined);
    }
  }
  return `processes:\n${ps.stdout || ps.stderr}\ndatabase sessions:\n${sessions}`;
}
