/**
 * `npm run build` (what the Dockerfile's build stage runs) compiles every entry point the image, compose file and
 * Kubernetes manifests start, and the compiled code finds its assets (migrations, console) from `dist/`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { RUNTIME_ENV, withRuntimeEnv } from '../../platform/runtime-env';
import { fixtures, replayAll } from '../workflows/replay-support';
import { ROOT } from '../support/processes';

const DIST = path.join(ROOT, 'dist');

beforeAll(() => {
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'pipe' });
}, 180_000);

function commandsOf(): string[][] {
  const commands: string[][] = [];
  const dockerCmd = /^CMD (\[.*\])$/m.exec(readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'));
  commands.push(JSON.parse(dockerCmd![1]!));
  const compose = parse(readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8')) as { services: Record<string, { build?: unknown; command?: string[] }> };
  for (const service of Object.values(compose.services)) if (service.build && service.command) commands.push(service.command);
  for (const doc of parseAllDocuments(readFileSync(path.join(ROOT, 'ops/k8s/deskflow.yaml'), 'utf8'))) {
    const spec = doc.toJS()?.spec;
    const containers = (spec?.template?.spec?.containers ?? []) as { image: string; command?: string[] }[];
    for (const c of containers) if (c.image.includes('deskflow') && c.command) commands.push(c.command);
  }
  return commands;
}

test('every process the image runs is a compiled file under dist/', () => {
  const commands = commandsOf();
  expect(commands.length).toBeGreaterThanOrEqual(7); // Dockerfile, 3 in compose, 3 in Kubernetes
  for (const command of commands) {
    expect(command[0]).toBe('node');
    const entry = command.find((arg) => arg.endsWith('.js'));
    expect(entry).toMatch(/^dist\//);
    expect(existsSync(path.join(ROOT, entry!))).toBe(true);
  }
});

test('compiled code resolves the checkout, the migrations and the console from dist/', () => {
  const out = execFileSync(
    process.execPath,
    [
      '-e',
      `const { ROOT } = require('./dist/platform/paths');
       const { MIGRATIONS_DIR } = require('./dist/platform/migrate');
       const { CONSOLE_DIR } = require('./dist/api/console');
       console.log(JSON.stringify({ ROOT, MIGRATIONS_DIR, CONSOLE_DIR }));`,
    ],
    { cwd: ROOT, encoding: 'utf8', env: { PATH: process.env.PATH } },
  );
  const paths = JSON.parse(out) as Record<string, string>;
  expect(paths.ROOT).toBe(ROOT);
  expect(existsSync(path.join(paths.MIGRATIONS_DIR!, '1764000000000_initial-schema.sql'))).toBe(true);
  expect(existsSync(path.join(paths.CONSOLE_DIR!, 'index.html'))).toBe(true);
  expect(existsSync(path.join(DIST, 'workflows', 'index.js'))).toBe(true); // the worker bundles its workflows from here
});

test('the image sets the runtime environment npm start and the benches set, and an operator value wins', () => {
  const dockerfile = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
  const runtimeStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
  const set = Object.fromEntries([...runtimeStage.matchAll(/^ENV ([A-Z_]+)=(\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
  expect(Object.keys(RUNTIME_ENV).length).toBeGreaterThan(0);
  for (const [key, value] of Object.entries(RUNTIME_ENV)) expect(set[key]).toBe(value);
  expect(withRuntimeEnv({ MALLOC_MMAP_THRESHOLD_: '65536', X: '1' })).toEqual({ ...RUNTIME_ENV, MALLOC_MMAP_THRESHOLD_: '65536', X: '1' });
});

test('a compiled worker loads the workflow bundles npm run build made, and they replay every recorded history', async () => {
  const out = execFileSync(
    process.execPath,
    [
      '-e',
      `const { workflowBundleFor } = require('./dist/workers/workflow-bundle');
       Promise.all([workflowBundleFor(false), workflowBundleFor(true)]).then((r) => console.log(JSON.stringify(r)));`,
    ],
    { cwd: ROOT, encoding: 'utf8', env: { PATH: process.env.PATH } },
  );
  const [plain, traced] = JSON.parse(out) as { bundle: { codePath?: string }; prebuilt: boolean }[];
  expect(plain).toEqual({ bundle: { codePath: path.join(DIST, 'workflow-bundle.js') }, prebuilt: true });
  expect(traced).toEqual({ bundle: { codePath: path.join(DIST, 'workflow-bundle.traced.js') }, prebuilt: true });
  const recorded = fixtures();
  expect(recorded.length).toBeGreaterThanOrEqual(10);
  expect(await replayAll(recorded, { codePath: plain!.bundle.codePath! })).toEqual([]);
}, 120_000);
