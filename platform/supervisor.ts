/**
 * Keeps a child process running for `npm start`: a crash (any exit while not stopping, by code or by
 * signal) is logged and followed by a restart after a backoff (1 s, doubling to 30 s; back to 1 s once
 * the child has run for a minute). `stop()` ends it and resolves once it is gone, whatever way it ends.
 */
import { type ChildProcess, spawn } from 'node:child_process';

export interface Supervised {
  readonly name: string;
  /** The running child's pid, if one is running. */
  pid(): number | undefined;
  stop(): Promise<void>;
}

const FIRST_BACKOFF_MS = 1_000;
const MAX_BACKOFF_MS = 30_000;
const HEALTHY_AFTER_MS = 60_000;
const KILL_AFTER_MS = 15_000;

export const hasExited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

/** Sends SIGTERM, then SIGKILL after a grace period; resolves when the child has exited (at once if it already had). */
export function terminate(child: ChildProcess, graceMs = KILL_AFTER_MS): Promise<void> {
  if (hasExited(child)) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

export function supervise(
  name: string,
  command: { file: string; args: string[]; cwd: string; env: NodeJS.ProcessEnv },
  log: (line: string) => void,
): Supervised {
  let child: ChildProcess | undefined;
  let stopping = false;
  let backoff = FIRST_BACKOFF_MS;
  let restartTimer: NodeJS.Timeout | undefined;

  const start = () => {
    const startedAt = Date.now();
    const current = spawn(command.file, command.args, { cwd: command.cwd, env: command.env, stdio: 'inherit' });
    child = current;
    log(`${name} started (pid ${current.pid})`);
    current.once('exit', (code, signal) => {
      if (stopping) return;
      if (Date.now() - startedAt >= HEALTHY_AFTER_MS) backoff = FIRST_BACKOFF_MS;
      log(`${name} exited (${signal ?? `code ${code}`}); restarting in ${backoff / 1000} s`);
      restartTimer = setTimeout(start, backoff);
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    });
  };
  start();

  return {
    name,
    pid: () => (child && !hasExited(child) ? child.pid : undefined),
    async stop() {
      stopping = true;
      clearTimeout(restartTimer);
      if (child) await terminate(child);
    },
  };
}
