/**
 * `npm run bench:profile` (issue #12): where the worker's and the API's CPU goes, under three loads (BENCH_PROFILE_RUNS,
 * default all):
 *  sla     the SLA benchmark (bench/sla-timers.ts: creates, then SLA timers firing, against the real worker);
 *  writes  the open-loop writes of `npm run bench` (BENCH_SCENARIOS=open: creates and messages at 7 and 20/s), with
 *          the API profiled as well;
 *  reads   the authenticated GETs of `npm run bench` (BENCH_SCENARIOS=get), the API profiled.
 * Each run's services go under `node --cpu-prof`; their profiles' self time is summed by what the code is (Temporal
 * SDK, the workflow sandbox, zod, luxon, pg, our activities, …) with the top frames. The runs' own sections go to
 * scratch files (their recorded figures stay as they are); the summary is written to bench/RESULTS.md between the
 * bench-profile markers.
 *
 * Settings: BENCH_PROFILE_TICKETS (default 2000: the SLA run's BENCH_SLA_TICKETS), any BENCH_SLA_* / BENCH_* passed
 * through; BENCH_PROFILE_DIR=<a run's profile directory> only summarises the profiles already there.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { writeSection } from './lib/harness';

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

const RESULTS_FILE = path.join(__dirname, 'RESULTS.md');
/** Each run has its own block (the SLA one keeps the first markers), so re-running one keeps the other's summary. */
const MARKERS: Record<Run['key'], { begin: string; end: string }> = {
  sla: { begin: '<!-- bench-profile:begin -->', end: '<!-- bench-profile:end -->' },
  writes: { begin: '<!-- bench-profile-writes:begin -->', end: '<!-- bench-profile-writes:end -->' },
  reads: { begin: '<!-- bench-profile-reads:begin -->', end: '<!-- bench-profile-reads:end -->' },
};

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

interface Run {
  key: 'sla' | 'writes' | 'reads';
  entry: string;
  env: NodeJS.ProcessEnv;
  services: { name: string; title: string }[];
  what: string;
}

function runsOf(tickets: string): Run[] {
  return [
    {
      key: 'sla',
      entry: 'sla-timers.ts',
      env: { BENCH_SLA_TICKETS: tickets, BENCH_CPU_PROFILE: 'worker' },
      services: [{ name: 'worker', title: 'the worker' }],
      what: `The worker (\`workers/main.ts\`, NODE_ENV=production) under \`node --cpu-prof\` (one profile per thread) through one \`npm run bench:sla\` run of ${tickets} tickets (creates, then SLA warnings and breaches firing; that run's own figures are not recorded).`,
    },
    {
      key: 'writes',
      entry: 'run.ts',
      env: { BENCH_SCENARIOS: 'open', BENCH_ROUNDS: process.env.BENCH_ROUNDS ?? '1', BENCH_CPU_PROFILE: 'worker,api' },
      services: [
        { name: 'worker', title: 'the worker' },
        { name: 'api', title: 'the API' },
      ],
      what:
        'The worker and the API under `node --cpu-prof` through the open-loop writes of `npm run bench` (BENCH_SCENARIOS=open: ' +
        'creates and messages at 7 and 20/s, plus the bare update-with-start side, which runs on its own trivial worker and is ' +
        "not in these profiles; that run's own figures are not recorded).",
    },
    {
      key: 'reads',
      entry: 'run.ts',
      env: { BENCH_SCENARIOS: 'get', BENCH_ROUNDS: process.env.BENCH_ROUNDS ?? '1', BENCH_CPU_PROFILE: 'api' },
      services: [{ name: 'api', title: 'the API' }],
      what:
        'The API under `node --cpu-prof` through the authenticated GET /api/v1/tickets/:id of `npm run bench` (BENCH_SCENARIOS=get, ' +
        '50 connections; the bare and unauthenticated sides run in their own processes and are not in this profile).',
    },
  ];
}

function section(run: Run, dir: string): string[] {
  const out = [
    `_Generated by \`npm run bench:profile\` (BENCH_PROFILE_RUNS=${run.key}) on ${new Date().toISOString()}. Everything between these markers is overwritten by the next such run._`,
    '',
    `## Where the CPU goes under ${{ sla: 'SLA timers', writes: 'writes (creates and messages)', reads: 'authenticated reads' }[run.key]} (issue #12)`,
    '',
    run.what,
    '',
  ];
  for (const service of run.services) {
    const { main: mainThread, threads } = profilesOf(path.join(dir, service.name));
    out.push(...table(`${service.title}: main thread${service.name === 'worker' ? ' (activities, the SDK core bridge, pg, Redis)' : ''}`, mainThread));
    if (threads.length) out.push(...table(`${service.title}: workflow threads (the SDK’s workflow sandbox: our workflow code runs here)`, threads));
  }
  return out;
}

function main(): number {
  const tickets = process.env.BENCH_SLA_TICKETS ?? process.env.BENCH_PROFILE_TICKETS ?? '2000';
  const wanted = (process.env.BENCH_PROFILE_RUNS ?? 'sla,writes,reads').split(',').map((x) => x.trim());
  const runs = runsOf(tickets).filter((r) => wanted.includes(r.key));
  if (runs.length === 0) throw new Error(`BENCH_PROFILE_RUNS=${process.env.BENCH_PROFILE_RUNS}: expected some of sla, writes, reads`);
  const given = process.env.BENCH_PROFILE_DIR; // profiles of an earlier run: only summarise them
  const base = given ?? mkdtempSync(path.join(tmpdir(), 'deskflow-profile-'));
  for (const run of runs) {
    const dir = path.join(base, run.key);
    if (!given) {
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, 'section.md'), ''); // the run's own results go here, not to bench/RESULTS.md
      const env = { ...process.env, ...run.env, BENCH_CPU_PROFILE_DIR: dir, BENCH_RESULTS_FILE: path.join(dir, 'section.md') };
      console.log(`[bench-profile] running bench/${run.entry} (${run.key}) with ${run.env.BENCH_CPU_PROFILE} under --cpu-prof into ${dir}…`);
      const child = spawnSync(process.execPath, ['--import', 'tsx', path.join(__dirname, run.entry)], { env, stdio: 'inherit' });
      if (child.status !== 0) {
        console.error(`[bench-profile] the ${run.key} run failed (${child.status ?? child.signal})`);
        return 1;
      }
    }
    const summary = section(run, dir).join('\n');
    writeSection(RESULTS_FILE, MARKERS[run.key].begin, MARKERS[run.key].end, summary, '');
    console.log(summary);
  }
  console.log(`[bench-profile] summary written to bench/RESULTS.md; the profiles stay in ${base} (open them in Chrome DevTools)`);
  return 0;
}

process.exitCode = main();
