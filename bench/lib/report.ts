/** Turns the measurements into the stdout table and the generated part of bench/RESULTS.md. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Machine } from './machine';
import { medianSample, type Sample } from './stats';

export interface Settings {
  rounds: number;
  durationS: number;
  warmupS: number;
  getConnections: number;
  createConcurrency: number;
  /** More knobs of the run, printed after the ones above (e.g. `BENCH_SCENARIOS=…`). */
  extra?: string;
}

/** One side of a scenario: `key` identifies it in code, `name` in tables. */
export interface SideSpec {
  key: string;
  name: string;
}

/** A ratio to report: median req/s of side `num` ÷ median req/s of side `den`. */
export interface RatioSpec {
  num: string;
  den: string;
}

export interface Comparison {
  title: string;
  load: string;
  /** The sides, in the order odd rounds measure them (even rounds measure them in reverse). */
  sides: SideSpec[];
  ratios: RatioSpec[];
  /** Per round: the order measured, and each side's sample. */
  rounds: { order: string[]; samples: Record<string, Sample> }[];
}

export interface Target {
  label: string;
  met: boolean;
  detail: string;
}

export interface RatioResult extends RatioSpec {
  /** Of the medians over rounds. */
  value: number;
  perRound: number[];
}

export interface Summary {
  comparison: Comparison;
  /** Per side, each figure the median over rounds. */
  medians: Record<string, Sample>;
  ratios: RatioResult[];
  /** Failed requests over every side and round of the scenario. */
  errors: number;
  targets: Target[];
}

/** A summary before its verdicts. */
export type Measured = Omit<Summary, 'targets'>;

export function summarizeComparison(comparison: Comparison, targets: (s: Measured) => Target[]): Summary {
  const medians = Object.fromEntries(comparison.sides.map(({ key }) => [key, medianSample(comparison.rounds.map((r) => sampleOf(r.samples, key)))]));
  const ratios = comparison.ratios.map(({ num, den }) => ({
    num,
    den,
    value: medians[num]!.rps / medians[den]!.rps,
    perRound: comparison.rounds.map((r) => sampleOf(r.samples, num).rps / sampleOf(r.samples, den).rps),
  }));
  const errors = Object.values(medians).reduce((sum, m) => sum + m.errors, 0);
  const partial = { comparison, medians, ratios, errors };
  return { ...partial, targets: targets(partial) };
}

function sampleOf(samples: Record<string, Sample>, key: string): Sample {
  const s = samples[key];
  if (!s) throw new Error(`no sample for side ${key}`);
  return s;
}

/** The ratio `num / den` of a summary (it must be one of the comparison's ratios). */
export function ratioOf(s: Measured, num: string, den: string): RatioResult {
  const r = s.ratios.find((x) => x.num === num && x.den === den);
  if (!r) throw new Error(`ratio ${num}/${den} is not reported`);
  return r;
}

const nameOf = (c: Comparison, key: string) => c.sides.find((side) => side.key === key)?.name ?? key;
const ratioLabel = (c: Comparison, r: RatioSpec) => `${nameOf(c, r.num)} / ${nameOf(c, r.den)}`;

const ms = (v: number) => (Number.isNaN(v) ? '–' : v < 10 ? v.toFixed(2) : v.toFixed(1));
const rps = (v: number) => (Number.isNaN(v) ? '–' : v.toFixed(v < 100 ? 1 : 0));
export const pct = (v: number) => (Number.isNaN(v) || !Number.isFinite(v) ? '–' : `${(v * 100).toFixed(1)} %`);

const HEADER = ['round', 'side', 'req/s', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'ok', 'errors'];

/** Open-loop comparisons (their samples count late requests) get a `late` column. */
const isOpenLoop = (s: Summary) => Object.values(s.medians).some((m) => m.late !== undefined);
const headerOf = (s: Summary) => (isOpenLoop(s) ? [...HEADER, 'late'] : HEADER);

function rows(s: Summary): string[][] {
  const { comparison: c } = s;
  const open = isOpenLoop(s);
  const line = (round: string, name: string, x: Sample) => [
    round,
    name,
    rps(x.rps),
    ms(x.p50),
    ms(x.p95),
    ms(x.p99),
    ms(x.max),
    String(x.ok),
    String(x.errors),
    ...(open ? [String(x.late ?? 0)] : []),
  ];
  const out: string[][] = [];
  c.rounds.forEach((r, i) => {
    for (const key of r.order) out.push(line(String(i + 1), nameOf(c, key), sampleOf(r.samples, key)));
  });
  for (const { key, name } of c.sides) out.push(line('median', name, s.medians[key]!));
  return out;
}

function firstError(s: Summary): string | undefined {
  return s.comparison.sides.map(({ key }) => s.medians[key]?.firstError).find((e) => e !== undefined);
}

export function textTable(table: string[][]): string {
  const widths = table[0]!.map((_, col) => Math.max(...table.map((row) => row[col]!.length)));
  return table.map((row) => row.map((cell, col) => (col < 2 ? cell.padEnd(widths[col]!) : cell.padStart(widths[col]!))).join('  ')).join('\n');
}

function markdownTable(table: string[][]): string {
  const [head, ...body] = table;
  const align = head!.map((_, col) => (col < 2 ? ':--' : '--:'));
  return [head!, align, ...body].map((row) => `| ${row.join(' | ')} |`).join('\n');
}

const mark = (t: Target) => (t.met ? 'MET' : 'NOT MET');

/** What a run reports besides its comparisons: targets judged elsewhere and whole markdown / text sections. */
export interface Extra {
  targets: Target[];
  markdown: string[];
  text: string[];
}

export function formatText(summaries: Summary[], extra: Extra = { targets: [], markdown: [], text: [] }): string {
  const parts: string[] = [];
  for (const s of summaries) {
    const c = s.comparison;
    parts.push(`\n== ${c.title} — ${c.load}`);
    parts.push(textTable([headerOf(s), ...rows(s)]));
    for (const r of s.ratios) {
      parts.push(`ratio ${ratioLabel(c, r)} (median req/s): ${pct(r.value)}   per round: ${r.perRound.map(pct).join(', ')}`);
    }
    for (const t of s.targets) parts.push(`  [${mark(t)}] ${t.label}: ${t.detail}`);
    const err = firstError(s);
    if (err) parts.push(`  first error: ${err}`);
  }
  parts.push(...extra.text);
  for (const t of extra.targets) parts.push(`  [${mark(t)}] ${t.label}: ${t.detail}`);
  return parts.join('\n');
}

export function formatMarkdown(
  machine: Machine,
  settings: Settings,
  summaries: Summary[],
  method: string[],
  loadAtEnd: string,
  extra: Extra = { targets: [], markdown: [], text: [] },
): string {
  const short = settings.rounds < 3 || settings.durationS < 10;
  const lines: string[] = [];
  lines.push(`_Generated by \`npm run bench\` on ${machine.date}. Everything between the bench markers is overwritten by the next run._`);
  lines.push('');
  if (short) {
    lines.push(
      `> ⚠ Short run (${settings.rounds} round(s) × ${settings.durationS} s): a smoke test of the harness, not a measurement. ` +
        'Run `npm run bench` with the defaults for figures worth quoting.',
    );
    lines.push('');
  }
  lines.push('## Summary', '');
  lines.push('| target | result | detail |', '| :-- | :-- | :-- |');
  for (const t of [...summaries.flatMap((s) => s.targets), ...extra.targets]) lines.push(`| ${t.label} | **${mark(t)}** | ${t.detail} |`);
  lines.push('');
  lines.push('## Machine', '');
  lines.push(`- CPU: ${machine.cpu}, ${machine.cores} cores available to Node`);
  lines.push(`- RAM: ${machine.ramGiB} GiB`);
  lines.push(`- OS: ${machine.os}`);
  lines.push(`- Node.js: ${machine.node}`);
  lines.push(`- PostgreSQL: ${machine.postgres}; Redis: ${machine.redis}`);
  lines.push(`- Temporal CLI: ${machine.temporalCli}`);
  lines.push(`- Code: ${machine.code}`);
  lines.push(`- Load average (1/5/15 min) at start: ${machine.loadAverage}; at end: ${loadAtEnd}`);
  lines.push('');
  lines.push('## Settings', '');
  lines.push(
    `BENCH_ROUNDS=${settings.rounds} BENCH_DURATION=${settings.durationS} BENCH_WARMUP=${settings.warmupS} ` +
      `BENCH_GET_CONNECTIONS=${settings.getConnections} BENCH_CREATE_CONCURRENCY=${settings.createConcurrency}` +
      (settings.extra ? ` ${settings.extra}` : ''),
  );
  lines.push('');
  lines.push('## Method', '');
  for (const m of method) lines.push(`- ${m}`);
  lines.push('');
  for (const s of summaries) {
    const c = s.comparison;
    lines.push(`## ${c.title} — ${c.load}`, '');
    lines.push(markdownTable([headerOf(s), ...rows(s)]));
    lines.push('');
    lines.push('| ratio (req/s) | median | per round |', '| :-- | --: | :-- |');
    for (const r of s.ratios) lines.push(`| ${ratioLabel(c, r)} | **${pct(r.value)}** | ${r.perRound.map(pct).join(', ')} |`);
    const err = firstError(s);
    if (err) lines.push('', `First error: \`${err.replace(/`/g, "'")}\``);
    lines.push('');
  }
  for (const section of extra.markdown) lines.push(section, '');
  return lines.join('\n').trimEnd();
}

export const BEGIN = '<!-- bench:begin -->';
export const END = '<!-- bench:end -->';

const PREAMBLE = `# Deskflow benchmark results

Notes (kept across runs: edit anything outside the bench markers; \`npm run bench\` rewrites only what is between them).

`;

/** Replaces the generated block of `file`, keeping everything outside the markers. */
export function writeResults(target: string, generated: string): void {
  // BENCH_RESULTS_FILE sends the run elsewhere (a short or partial run must not overwrite the recorded figures).
  const file = process.env.BENCH_RESULTS_FILE || target;
  const block = `${BEGIN}\n${generated}\n${END}`;
  if (!existsSync(file)) {
    writeFileSync(file, `${PREAMBLE}${block}\n`);
    return;
  }
  const current = readFileSync(file, 'utf8');
  const begin = current.indexOf(BEGIN);
  const end = current.indexOf(END, begin);
  const next = begin >= 0 && end >= 0 ? current.slice(0, begin) + block + current.slice(end + END.length) : `${current.trimEnd()}\n\n${block}\n`;
  writeFileSync(file, next);
}

/** A markdown table; the first `leftColumns` columns left-aligned, the others right-aligned. */
export function table(head: string[], rows: string[][], leftColumns = 1): string {
  const align = head.map((_, i) => (i < leftColumns ? ':--' : '--:'));
  return [head, align, ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}
