/**
 * `npm start`: the whole stack on one machine. Starts the Temporal dev server (unless TEMPORAL_ADDRESS
 * points elsewhere), migrates PostgreSQL, seeds a demo tenant, then runs the API and a worker, restarting
 * either if it crashes. Ctrl-C, SIGTERM or a fatal error (the dev server dying included) stops everything.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { loadConfig } from '../config';
import { DEMO } from '../demo';
import { migrate } from '../migrate';
import { ROOT as root } from '../paths';
import { withRuntimeEnv } from '../runtime-env';
import { type Supervised, supervise } from '../supervisor';
import { type DevServer, npmStartDevServerOptions, startTemporalDevServer } from '../temporal-dev-server';

const log = (line: string) => console.log(`[deskflow] ${line}`);

let temporal: DevServer | undefined;
const children: Supervised[] = [];
let stopping = false;

/** Stops the API and worker, then the dev server, and exits: nothing is left behind. */
async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  log('stopping…');
  await Promise.all(children.map((child) => child.stop()));
  await temporal?.stop();
  log('stopped');
  process.exit(code);
}

async function main() {
  const config = loadConfig();
  const env = withRuntimeEnv(process.env);
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  process.on('SIGHUP', () => void stop(0));

  if (!config.TEMPORAL_ADDRESS) {
    const dataDir = path.resolve(root, config.DATA_DIR);
    console.log('[deskflow] starting Temporal dev server…');
    temporal = await startTemporalDevServer(
      npmStartDevServerOptions({ dataDir, port: config.TEMPORAL_DEV_PORT, uiPort: config.TEMPORAL_UI_PORT, namespace: config.TEMPORAL_NAMESPACE }),
    );
    env.TEMPORAL_ADDRESS = temporal.address;
    log(`Temporal dev server started (pid ${temporal.process.pid})`);
    temporal.process.once('exit', (code, signal) => {
      if (stopping) return;
      console.error(`[deskflow] the Temporal dev server exited (${signal ?? `code ${code}`}); stopping the stack (see ${config.DATA_DIR}/temporal.log)`);
      void stop(1);
    });
  }

  console.log('[deskflow] applying migrations…');
  await migrate(config);
  if (config.DEMO_SEED) {
    execFileSync(process.execPath, ['--import', 'tsx', path.join(root, 'platform/cli/admin.ts'), 'seed-demo'], { env, stdio: 'inherit', cwd: root });
  }

  for (const [name, entry] of [
    ['worker', 'workers/main.ts'],
    ['api', 'api/main.ts'],
  ] as const) {
    if (stopping) return;
    children.push(supervise(name, { file: process.execPath, args: ['--import', 'tsx', path.join(root, entry)], cwd: root, env }, log));
  }

  const api = `http://localhost:${config.PORT}`;
  console.log(`
[deskflow] up:
  API          ${api}/api/v1   (health: ${api}/readyz)
  Console      ${api}/console   (webhooks; sign in as an admin)
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

const fatal = (err: unknown) => {
  console.error('[deskflow] fatal:', err);
  void stop(1);
};
process.on('uncaughtException', fatal);
process.on('unhandledRejection', fatal);
main().catch(fatal);
