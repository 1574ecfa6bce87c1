/**
 * The last step of `npm run build`: the workflow bundles a compiled worker loads instead of running webpack at every
 * start (workers/workflow-bundle.ts), one without and one with the tracing interceptors. Run from dist/, it bundles the
 * compiled workflows next to it.
 */
import { writeFileSync } from 'node:fs';
import { bundleWorkflows, prebuiltBundlePath } from './workflow-bundle';

async function main() {
  for (const traced of [false, true]) {
    const { code } = await bundleWorkflows(traced, { trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error, log() {} });
    writeFileSync(prebuiltBundlePath(traced), code);
    console.log(`[deskflow] ${prebuiltBundlePath(traced)} (${(code.length / 1048576).toFixed(1)} MiB)`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
