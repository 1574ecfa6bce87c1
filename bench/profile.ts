/**
 * `npm run bench:profile` (issue #12): where the worker's CPU goes. Runs the SLA benchmark (bench/sla-timers.ts:
 * creates, then SLA timers firing, against the real worker) with the worker under `node --cpu-prof`, then sums the
 * profile's self time by what the code is (Temporal SDK, the workflow sandbox, zod, luxon, pg, our activities, …) and
 * lists the top frames. The SLA run's own section goes to a scratch file (its recorded figures stay as they are); the
 * summary is written to bench/RESULTS.md between the bench-profile markers.
 *
 * Settings: BENCH_PROFILE_TICKETS (default 2000: the SLA run's BENCH_SLA_TICKETS), any BENCH_SLA_* passed through;
 * BENCH_PROFILE_DIR=<a run's profile directory> only summarises the profiles under its `worker/`.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { writeSection } from './lib/harness';

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

const RESULTS_FILE = path.join(__dirname, 'RESULTS.md');
const BEGIN = '<!-- bench-profile:begin -->';
const END = '<!-- bench-profile:end -->';

/** What a frame is, from its script and name (the workflow code runs in the SDK's sandbox, from one webpack bundle). */
export function categoryOf(url: string, functionName: string): string {
  if (functionName === '(idle)') return 'idle';
  if (functionName === '(garbage collector)') return 'garbage collection';
  if (functionName === '(program)' || functionName === '(root)') return 'V8 / native (program)';
  if (/workflow-bundle|^webpack|\/workflow\/lib\/worker-interface/.test(url)) return 'workflow sandbox (our workflows + domain + SDK workflow runtime)';
  if (url.includes('node_modules/@temporalio/')) return 'Temporal SDK (worker, activities, proto)';
  if (url.includes('node_modules/zod')) return 'zod';
  if (url.includes('node_modules/luxon')) return 'luxon';
  if (/node_modules\/(pg|pg-protocol|pg-pool)\//.test(url)) return 'pg';
  if (url.includes('node_modules/ioredis')) return 'ioredis';
  if (url.includes('node_modules/protobufjs') || url.includes('node_modules/long')) return 'protobufjs';
  if (url.includes('/activities/')) return 'our activities (projection, SLA, webhooks)';
  if (url.includes('/domain/')) return 'our domain code (outside the sandbox)';
  if (/\/(platform|stores|workers)\//.test(url)) return 'our platform / stores / worker';
  if (url.includes('node_modules/')) return `other library (${/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1] ?? '?'})`;
  return 'Node.js core';
}

/** Self time of several profiles (a process's threads), summed by category and by frame. */
export function summarise(profiles: CpuProfile[]): { total: number; byCategory: [string, number][]; top: { frame: string; category: string; ms: number }[] } {
  const byCategory = new Map<string, number>();
  const byFrame = new Map<string, { category: string; us: number }>();
  let total = 0;
  for (const profile of profiles) {
    const self = new Map<number, number>();
    for (const [i, id] of profile.samples.entries()) self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
    for (const node of profile.nodes) {
      const us = self.get(node.id) ?? 0;
      if (us === 0) continue;
      const { functionName, url, lineNumber } = node.callFrame;
      const category = categoryOf(url, functionName);
      if (category === 'idle') continue;
      total += us;
      byCategory.set(category, (byCategory.get(category) ?? 0) + us);
      const where = url
        ? `${url
            .replace(/^.*node_modules\//, '')
            .replace(/^.*\/work\/[^/]+\//, '')
            .replace(/^file:\/\//, '')}:${lineNumber + 1}`
        : '';
      const frame = `${functionName || '(anonymous)'} ${where}`.trim();
      const entry = byFrame.get(frame) ?? { category, us: 0 };
      entry.us += us;
      byFrame.set(frame, entry);
    }
  }
  return {
    total: total / 1000,
    byCategory: [...byCategory].sort((a, b) => b[1] - a[1]).map(([c, us]) => [c, us / 1000]),
    top: [...byFrame]
      .sort((a, b) => b[1].us - a[1].us)
      .slice(0, 25)
      .map(([frame, e]) => ({ frame, category: e.category, ms: e.us / 1000 })),
  };
}

/** A process's profiles (one per thread: `CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile`), main thread apart. */
function profilesOf(dir: string): { main: string[]; threads: string[] } {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => path.join(dir, f));
  if (files.length === 0) throw new Error(`no .cpuprofile in ${dir} (did the worker exit cleanly?)`);
  const isMain = (f: string) => /\.\d+\.0\.\d+\.cpuprofile$/.test(f);
  return { main: files.filter(isMain), threads: files.filter((f) => !isMain(f)) };
}

const read = (files: string[]) => files.map((f) => JSON.parse(readFileSync(f, 'utf8')) as CpuProfile);

function table(title: string, files: string[]): string[] {
  const { total, byCategory, top } = summarise(read(files));
  const pct = (ms: number) => `${((100 * ms) / total).toFixed(1)} %`;
  return [
    `### ${title}`,
    '',
    `Busy CPU time (idle excluded): **${(total / 1000).toFixed(1)} s** over ${files.length} profile(s). Self time by what the code is (libraries under 0.5 % left out):`,
    '',
    '| code | self ms | share |',
    '| :-- | --: | --: |',
    ...byCategory.filter(([, ms]) => ms / total >= 0.005).map(([c, ms]) => `| ${c} | ${ms.toFixed(0)} | ${pct(ms)} |`),
    '',
    'Top frames by self time:',
    '',
    '| frame | code | self ms | share |',
    '| :-- | :-- | --: | --: |',
    ...top.map((t) => `| \`${t.frame.replaceAll('|', '\\|').slice(0, 140)}\` | ${t.category} | ${t.ms.toFixed(0)} | ${pct(t.ms)} |`),
    '',
  ];
}

function report(main: string[], threads: string[], what: string): string {
  return [
    `_Generated by \`npm run bench:profile\` on ${new Date().toISOString()}. Everything between the bench-profile markers is overwritten by the next run._`,
    '',
    '## Where the worker’s CPU goes (issue #12)',
    '',
    what,
    '',
    ...table('Main thread (activities, the SDK core bridge, pg, Redis)', main),
    ...(threads.length ? table('Workflow threads (the SDK’s workflow sandbox: our workflow code runs here)', threads) : []),
  ].join('\n');
}

function main(): number {
  const tickets = process.env.BENCH_SLA_TICKETS ?? process.env.BENCH_PROFILE_TICKETS ?? '2000';
  let dir = process.env.BENCH_PROFILE_DIR; // profiles of an earlier run: only summarise them
  if (!dir) {
    dir = mkdtempSync(path.join(tmpdir(), 'deskflow-profile-'));
    const env = {
      ...process.env,
      BENCH_SLA_TICKETS: tickets,
      BENCH_CPU_PROFILE: 'worker',
      BENCH_CPU_PROFILE_DIR: dir,
      BENCH_RESULTS_FILE: path.join(dir, 'sla-section.md'),
    };
    console.log(`[bench-profile] running the SLA benchmark (${tickets} tickets) with the worker under --cpu-prof into ${dir}…`);
    const run = spawnSync(process.execPath, ['--import', 'tsx', path.join(__dirname, 'sla-timers.ts')], { env, stdio: 'inherit' });
    if (run.status !== 0) {
      console.error(`[bench-profile] the SLA run failed (${run.status ?? run.signal})`);
      return 1;
    }
  }
  const { main: mainThread, threads } = profilesOf(path.join(dir, 'worker'));
  const section = report(
    mainThread,
    threads,
    `The worker (\`workers/main.ts\`, NODE_ENV=production) under \`node --cpu-prof\` (one profile per thread) through one \`npm run bench:sla\` run of ${tickets} tickets (creates, then SLA warnings and breaches firing; that run's own figures are not recorded).`,
  );
  writeSection(RESULTS_FILE, BEGIN, END, section, '');
  console.log(section);
  console.log(`[bench-profile] summary written to bench/RESULTS.md; the profiles stay in ${path.join(dir, 'worker')} (open them in Chrome DevTools)`);
  return 0;
}

process.exitCode = main();
