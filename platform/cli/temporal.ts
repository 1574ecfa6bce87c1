/**
 * `npm run temporal -- <args>`: the installed Temporal CLI, pointed at our Temporal (TEMPORAL_ADDRESS or the
 * embedded dev server) and namespace, so the README's and the runbook's commands work as written.
 */
import { spawnSync } from 'node:child_process';
import { DEFAULT_TEMPORAL_ADDRESS, loadConfig } from '../config';
import { resolveTemporalCli } from '../temporal-cli';

const config = loadConfig();
const result = spawnSync(
  resolveTemporalCli((msg) => console.error(msg)),
  process.argv.slice(2),
  {
    stdio: 'inherit',
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: DEFAULT_TEMPORAL_ADDRESS(config),
      TEMPORAL_NAMESPACE: config.TEMPORAL_NAMESPACE,
    },
  },
);
process.exit(result.status ?? 1);
