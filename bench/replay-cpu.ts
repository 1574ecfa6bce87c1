/**
 * `npm run bench:replay` (issue #12): the CPU of workflow code alone, without a server or a database. It replays the
 * checked-in ticket histories (test/workflows/histories/ticket-*.json) many times in one replay Worker, with the
 * workflow bundle as shipped and with the same bundle at V8's default stack-trace depth (workflows/stack-frames.ts
 * sets two frames; the other side adds a module after it that puts the default back). The two sides alternate, round
 * by round; the figure is the process's CPU (every thread) per replayed history, median over BENCH_ROUNDS (5).
 * BENCH_REPLAY_RUNS (100): replays of each history per measurement. Prints the table; writes nothing to
 * bench/RESULTS.md (the reading goes into its notes). A change to workflow code can be checked the same way.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode, Worker, type WorkflowBundle } from '@temporalio/worker';
import { FIXTURES, fixtures } from '../test/workflows/replay-support';
import { preloadModules, workflowsPath } from '../workers/workflow-bundle';
import { type Cleanup, numberEnv, runBench } from './lib/harness';
import { table } from './lib/report';
import { percentile } from './lib/stats';

const TAG = 'bench-replay';
const log = (msg: string) => console.log(`[${TAG}] ${msg}`);
/** V8's own default (Error.stackTraceLimit in a fresh context). */
const V8_DEFAULT_FRAMES = 10;

interface History {
  name: string;
  history: { events: { eventType?: string }[] };
}

const median = (xs: number[]) => percentile(Float64Array.from(xs).sort(), 50);

async function cpuPerReplay(bundle: WorkflowBundle, histories: History[], runs: number): Promise<number> {
  const all = histories.flatMap((h) => Array.from({ length: runs }, (_, i) => ({ workflowId: `${h.name}-${i}`, history: h.history })));
  const before = process.cpuUsage();
  for await (const { workflowId, error } of Worker.runReplayHistories({ workflowBundle: bundle }, all)) {
    if (error) throw new Error(`${workflowId} failed to replay: ${error.message}`);
  }
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000 / all.length;
}

async function main(cleanup: Cleanup): Promise<number> {
  const rounds = numberEnv('BENCH_ROUNDS', 5);
  const runs = numberEnv('BENCH_REPLAY_RUNS', 100);
  const histories = fixtures().filter((f) => f.name.startsWith('ticket-')) as History[];
  if (histories.length === 0) throw new Error(`no ticket histories in ${FIXTURES}`);
  const tasks = histories.reduce((n, h) => n + h.history.events.filter((e) => e.eventType === 'EVENT_TYPE_WORKFLOW_TASK_COMPLETED').length, 0);
  const tasksPerHistory = tasks / histories.length;

  const dir = mkdtempSync(path.join(os.tmpdir(), 'deskflow-replay-'));
  cleanup.add('scratch module', async () => rmSync(dir, { recursive: true, force: true }));
  const defaultDepth = path.join(dir, 'default-stack-depth.js');
  writeFileSync(defaultDepth, `Error.stackTraceLimit = ${V8_DEFAULT_FRAMES};\n`);
  const quiet = { info() {}, warn() {}, error() {}, debug() {}, trace() {}, log() {} };
  log(`bundling the workflow code twice (${histories.length} histories, ${tasksPerHistory.toFixed(1)} workflow tasks each on average)…`);
  const sides = {
    shipped: await bundleWorkflowCode({ workflowsPath, preloadModules, logger: quiet }),
    v8Default: await bundleWorkflowCode({ workflowsPath, preloadModules: [...preloadModules, defaultDepth], logger: quiet }),
  };
  const names = { shipped: 'as shipped (two stack frames)', v8Default: `V8's default depth (${V8_DEFAULT_FRAMES} frames)` };
  await cpuPerReplay(sides.shipped, histories, 5); // warm-up: the first replays compile the bundle and the SDK's paths
  await cpuPerReplay(sides.v8Default, histories, 5);

  const measured: Record<keyof typeof sides, number[]> = { shipped: [], v8Default: [] };
  for (let round = 1; round <= rounds; round++) {
    const order = round % 2 ? (['shipped', 'v8Default'] as const) : (['v8Default', 'shipped'] as const);
    for (const side of order) {
      const ms = await cpuPerReplay(sides[side], histories, runs);
      measured[side].push(ms);
      log(`round ${round}/${rounds} ${names[side]}: ${ms.toFixed(2)} ms CPU per replayed history`);
    }
  }
  const shipped = median(measured.shipped);
  const v8Default = median(measured.v8Default);
  console.log(
    `\n${table(
      ['side', 'CPU ms per replayed history (median)', 'per workflow task', 'rounds'],
      [
        [names.shipped, shipped.toFixed(2), (shipped / tasksPerHistory).toFixed(2), measured.shipped.map((x) => x.toFixed(2)).join(' / ')],
        [names.v8Default, v8Default.toFixed(2), (v8Default / tasksPerHistory).toFixed(2), measured.v8Default.map((x) => x.toFixed(2)).join(' / ')],
      ],
    )}\nshipped / default: ${((shipped / v8Default) * 100).toFixed(1)} % of the CPU (${histories.length} histories × ${runs} replays per measurement, ${rounds} rounds, ${os.cpus().length} cores)`,
  );
  return 0;
}

runBench(TAG, main, 20 * 60_000);
