/**
 * Starts `temporal server start-dev` with our search attributes registered, and waits until it answers.
 * Used by `npm start` (persistent SQLite file, UI on :8233) and by the test run (in memory, headless).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { searchAttributeRegistrations } from '../domain/search-attributes';
import { resolveTemporalCli } from './temporal-cli';

export interface DevServerOptions {
  port: number;
  uiPort?: number; // omitted: headless
  dbFile?: string; // omitted: in memory
  logFile?: string;
  namespace?: string;
}

export interface DevServer {
  address: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/**
 * The dev server as `npm start` runs it: durable (SQLite file in WAL mode in `dataDir`, log beside it), UI on.
 * `npm run bench` starts the same to measure what users run.
 */
export function npmStartDevServerOptions(opts: { dataDir: string; port: number; uiPort: number; namespace: string }): DevServerOptions {
  return {
    port: opts.port,
    uiPort: opts.uiPort,
    dbFile: path.join(opts.dataDir, 'temporal.sqlite'),
    logFile: path.join(opts.dataDir, 'temporal.log'),
    namespace: opts.namespace,
  };
}

export async function startTemporalDevServer(opts: DevServerOptions): Promise<DevServer> {
  const cli = resolveTemporalCli();
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(opts.port), '--log-level', 'warn'];
  args.push('--namespace', opts.namespace ?? 'default');
  if (opts.uiPort) args.push('--ui-port', String(opts.uiPort));
  else args.push('--headless');
  if (opts.dbFile) {
    mkdirSync(path.dirname(opts.dbFile), { recursive: true });
    args.push('--db-filename', opts.dbFile);
    // SQLite's defaults (rollback journal, a sync per commit) saturated `npm start` below 20 writes/s (issue #12).
    // WAL with synchronous=normal survives a crash of the process (nothing acknowledged is lost) but not of the
    // machine's power: the last commits before a power cut may be lost. A production deployment runs a real cluster.
    args.push('--sqlite-pragma', 'journal_mode=wal', '--sqlite-pragma', 'synchronous=normal');
  }
  for (const registration of searchAttributeRegistrations()) args.push('--search-attribute', registration);
  // Update-with-start and updates are how the API gets read-your-writes answers.
  args.push('--dynamic-config-value', 'frontend.enableExecuteMultiOperation=true');
  args.push('--dynamic-config-value', 'frontend.enableUpdateWorkflowExecution=true');

  const child = spawn(cli, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: false });
  if (opts.logFile) {
    mkdirSync(path.dirname(opts.logFile), { recursive: true });
    const log = createWriteStream(opts.logFile, { flags: 'a' });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
  } else {
    child.stdout?.resume();
    child.stderr?.resume();
  }
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const address = `127.0.0.1:${opts.port}`;

  const deadline = Date.now() + 60_000;
  for (;;) {
    const early = await Promise.race([exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 250))]);
    if (early !== 'running') throw new Error(`temporal server start-dev exited with code ${early} (see ${opts.logFile ?? 'its output'})`);
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1000 });
      await connection.workflowService.getSystemInfo({});
      await connection.close();
      break;
    } catch (err) {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`Temporal dev server did not become ready on ${address}: ${(err as Error).message}`);
      }
    }
  }

  return {
    address,
    process: child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
