/** The processes a run starts: spawned like production runs them, watched, and stopped on the way out. */
import type { Cleanup } from './harness';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { withRuntimeEnv } from '../../platform/runtime-env';
import { ROOT } from '../../test/support/processes';

const OUTPUT_KEEP = 32_000;

export interface Service {
  name: string;
  child: ChildProcess;
  /** The tail of its stdout+stderr, for error messages. */
  output(): string;
  /** Throws if the process has exited (it never should before `stop`). */
  assertRunning(): void;
  waitForOutput(marker: string, timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * How the services run: `compiled` (default) as the Dockerfile runs them, `node dist/<entry>.js` after `npm run build`
 * (once per bench process); `tsx` (BENCH_RUNTIME=tsx) from the TypeScript sources, as `npm start` runs them.
 */
export const BENCH_RUNTIME: 'compiled' | 'tsx' = process.env.BENCH_RUNTIME === 'tsx' ? 'tsx' : 'compiled';
const built = new Set<string>();

function entryArgs(entry: string, root: string): string[] {
  if (BENCH_RUNTIME === 'tsx') return ['--import', 'tsx', path.join(root, entry)];
  if (!built.has(root)) {
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
    built.add(root);
  }
  return [path.join(root, 'dist', entry.replace(/\.ts$/, '.js'))];
}

/** For a bench's method text: how its processes ran. */
export const BENCH_RUNTIME_NOTE =
  BENCH_RUNTIME === 'compiled'
    ? 'Every process runs compiled (`npm run build`, `node dist/…js`, as the image runs it), with the image’s MALLOC_MMAP_THRESHOLD_.'
    : 'Every process runs from the TypeScript sources through tsx (BENCH_RUNTIME=tsx).';

/** Runs `entry` (a path from the repository root, e.g. `api/main.ts`) with `env`, as BENCH_RUNTIME says. */
export function spawnTs(name: string, entry: string, env: NodeJS.ProcessEnv, nodeArgs: string[] = [], root = ROOT): Service {
  const child = spawn(process.execPath, [...nodeArgs, ...entryArgs(entry, root)], {
    env: withRuntimeEnv(env), // as npm start and the Dockerfile start them
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_KEEP);
    for (const listener of listeners) listener();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stopping = false;
  const hasExited = () => child.exitCode !== null || child.signalCode !== null;
  const exitText = () => `${name} exited (${child.signalCode ?? child.exitCode})\n--- ${name} output ---\n${output}`;

  return {
    name,
    child,
    output: () => output,
    assertRunning() {
      if (hasExited() && !stopping) throw new Error(exitText());
    },
    waitForOutput(marker, timeoutMs) {
      return new Promise<void>((resolve, reject) => {
        const done = (err?: Error) => {
          clearTimeout(timer);
          listeners.delete(check);
          child.off('exit', onExit);
          if (err) reject(err);
          else resolve();
        };
        const check = () => {
          if (output.includes(marker)) done();
        };
        const onExit = () => done(new Error(exitText()));
        const timer = setTimeout(() => done(new Error(`${name} did not print "${marker}" within ${timeoutMs} ms\n${output}`)), timeoutMs);
        listeners.add(check);
        child.once('exit', onExit);
        check();
        if (hasExited()) onExit();
      });
    },
    async stop() {
      stopping = true;
      if (hasExited()) return;
      child.kill('SIGTERM');
      const killed = await Promise.race([exited.then(() => false), sleep(15_000).then(() => true)]);
      if (killed && !hasExited()) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

/** Polls `url` until it answers 200 (and the service is still up). */
export async function waitForHttp(service: Service, url: string, headers: Record<string, string>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  for (;;) {
    service.assertRunning();
    try {
      const res = await fetch(url, { headers, signal: AbortSignal.timeout(2000) });
      const text = await res.text();
      if (res.status === 200) return;
      last = `HTTP ${res.status}: ${text.slice(0, 300)}`;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`${service.name} not ready at ${url} within ${timeoutMs} ms (${last})\n${service.output()}`);
    await sleep(200);
  }
}

/**
 * BENCH_CPU_PROFILE=worker,api (with BENCH_CPU_PROFILE_DIR) runs those services under `--cpu-prof`: each writes a
 * V8 CPU profile into `<dir>/<name>/` when it exits (bench/profile.ts summarises it).
 */
function cpuProfileArgs(name: string): string[] {
  const wanted = (process.env.BENCH_CPU_PROFILE ?? '').split(',').map((s) => s.trim());
  const dir = process.env.BENCH_CPU_PROFILE_DIR;
  // Node refuses --cpu-prof in NODE_OPTIONS: it goes on the command line.
  return dir && wanted.includes(name) ? ['--cpu-prof', `--cpu-prof-dir=${path.join(dir, name)}`] : [];
}

/**
 * The services one bench run starts: each is stopped by `cleanup`, and `assertAllRunning` fails the run as soon
 * as one of them has died (a figure measured against a dead process would mean nothing).
 */
export function serviceGroup(env: NodeJS.ProcessEnv, cleanup: Pick<Cleanup, 'add'>) {
  const services: Service[] = [];
  /** `root`: another checkout to run `entry` from (an A/B of two commits in one run; no bench passes it yet). */
  const start = (name: string, entry: string, extra: NodeJS.ProcessEnv = {}, root?: string): Service => {
    const service = spawnTs(name, entry, { ...env, ...extra }, cpuProfileArgs(name), root);
    services.push(service);
    cleanup.add(`process ${name}`, () => service.stop());
    return service;
  };
  const assertAllRunning = () => {
    for (const s of services) s.assertRunning();
  };
  return { start, assertAllRunning };
}
