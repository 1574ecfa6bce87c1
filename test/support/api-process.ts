/** A second API instance as a real child process (`node --import tsx api/main.ts`), as production runs it. */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { freePort, ROOT, stopProcess } from './processes';

export interface ApiProcess {
  url: string;
  child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts `api/main.ts` with process.env plus `overrides` and resolves once `/readyz` answers 200 (bounded: 60 s).
 * `withoutWorker`: once every check but the worker's is ok (a test whose task queue has no worker yet).
 */
export async function startApiProcess(overrides: Record<string, string> = {}, { withoutWorker = false } = {}): Promise<ApiProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'api/main.ts')], {
    env: { ...process.env, HOST: '127.0.0.1', PORT: String(port), ...overrides },
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const url = `http://127.0.0.1:${port}`;
  const api: ApiProcess = { url, child, output: () => output, stop: () => stopProcess(child) };

  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`api process exited (${child.exitCode ?? child.signalCode}):\n${output}`);
    const ready = await fetch(`${url}/readyz`).then(
      async (r) => {
        if (r.status === 200) return true;
        if (!withoutWorker || r.status !== 503) return false;
        const { checks } = (await r.json()) as { checks: Record<string, string> };
        return Object.entries(checks).every(([name, state]) => name === 'worker' || state === 'ok');
      },
      () => false,
    );
    if (ready) return api;
    if (Date.now() > deadline) {
      await api.stop();
      throw new Error(`api process not ready in 60 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
