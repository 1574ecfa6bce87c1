/**
 * `npm start`: the whole stack on one machine. Starts the Temporal dev server (unless TEMPORAL_ADDRESS
 * points elsewhere), migrates PostgreSQL, seeds a demo tenant, then runs the API and a worker.
 * Ctrl-C stops everything.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import path from 'node:path';
import { loadConfig } from '../config';
import { DEMO } from '../demo';
import { migrate } from '../migrate';
import { type DevServer, startTemporalDevServer } from '../temporal-dev-server';

const root = path.resolve(__dirname, '..', '..');

async function main() {
  const config = loadConfig();
  const env = { ...process.env };
  let temporal: DevServer | undefined;
  const children: ChildProcess[] = [];
  let stopping = false;

  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    console.log('\n[deskflow] stopping…');
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGTERM');
          }),
      ),
    );
    await temporal?.stop();
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));

  if (!config.TEMPORAL_ADDRESS) {
    const dataDir = path.resolve(root, config.DATA_DIR);
    console.log('[deskflow] starting Temporal dev server…');
    temporal = await startTemporalDevServer({
      port: config.TEMPORAL_DEV_PORT,
      uiPort: config.TEMPORAL_UI_PORT,
      dbFile: path.join(dataDir, 'temporal.sqlite'),
      logFile: path.join(dataDir, 'temporal.log'),
      namespace: config.TEMPORAL_NAMESPACE,
    });
    env.TEMPORAL_ADDRESS = temporal.address;
  }

  console.log('[deskflow] applying migrations…');
  await migrate(config);
  if (config.DEMO_SEED) {
    execFileSync(process.execPath, ['--import', 'tsx', path.join(root, 'api/cli/admin.ts'), 'seed-demo'], { env, stdio: 'inherit', cwd: root });
  }

  for (const entry of ['workers/main.ts', 'api/main.ts']) {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, entry)], { env, stdio: 'inherit', cwd: root });
    child.on('exit', (code, signal) => {
      if (!stopping) {
        console.error(`[deskflow] ${entry} exited (${signal ?? code}); stopping the stack`);
        void stop(1);
      }
    });
    children.push(child);
  }

  const api = `http://localhost:${config.PORT}`;
  console.log(`
[deskflow] up:
  API          ${api}/api/v1   (health: ${api}/readyz)
  Temporal UI  ${temporal ? `http://localhost:${config.TEMPORAL_UI_PORT}` : '(external: ' + config.TEMPORAL_ADDRESS + ')'}
  Temporal     ${env.TEMPORAL_ADDRESS}
${
  config.DEMO_SEED
    ? `  Demo tenant ${DEMO.tenantId}: log in as ${DEMO.adminEmail} / ${DEMO.adminPassword}
    TOKEN=$(curl -s -X POST ${api}/api/v1/auth/login -H 'Content-Type: application/json' \\
      -d '{"email":"${DEMO.adminEmail}","password":"${DEMO.adminPassword}"}' | node -pe 'JSON.parse(require("fs").readFileSync(0)).access_token')
    curl -s -X POST ${api}/api/v1/tickets -H 'Content-Type: application/json' -H "Authorization: Bearer $TOKEN" \\
      -d '{"subject":"Printer on fire","description":"It is on fire.","customer_id":"${DEMO.customerId}"}'
`
    : ''
}  Ctrl-C stops everything.
`);
}

main().catch((err) => {
  console.error('[deskflow] failed to start:', err);
  process.exit(1);
});
