/**
 * CPU and memory of processes, sampled from /proc (Linux only) once per interval: CPU % from the
 * utime+stime deltas (100 % = one core busy), memory as VmRSS. Each target is a process and its
 * descendants (summed), so a process that forks helpers is still measured whole. Every sample is
 * attributed to the phase current when it is taken.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcTarget {
  name: string;
  pid: number;
}

export interface PhaseUsage {
  /** CPU time over the phase ÷ its wall time, %. */
  avgCpuPct: number;
  /** CPU time over the phase, seconds (what a per-request or per-task figure divides). */
  cpuSeconds: number;
  /** The busiest single interval, %. */
  maxCpuPct: number;
  peakRssMiB: number;
  /** RSS at the last sample of the phase. */
  lastRssMiB: number;
  samples: number;
  seconds: number;
}

interface Acc {
  cpuS: number;
  wallS: number;
  maxCpuPct: number;
  peakRssKiB: number;
  lastRssKiB: number;
  samples: number;
}

function clockTicks(): number {
  try {
    const v = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5000 }).trim());
    return Number.isFinite(v) && v > 0 ? v : 100;
  } catch {
    return 100;
  }
}

interface Stat {
  ppid: number;
  ticks: number;
}

/** pid → (ppid, utime+stime) from /proc/<pid>/stat; the command name may hold spaces and parentheses. */
function readStat(pid: number): Stat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // rest[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
    return { ppid: Number(rest[1]), ticks: Number(rest[11]) + Number(rest[12]) };
  } catch {
    return undefined;
  }
}

/** CPU ms so far of each thread of a process (/proc/<pid>/task/<tid>/{comm,stat}); a thread that ended meanwhile is left out. */
export function readThreadCpuMs(pid: number): { tid: number; comm: string; cpuMs: number }[] {
  const hz = clockTicks();
  const out: { tid: number; comm: string; cpuMs: number }[] = [];
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      const text = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
      out.push({ tid: Number(tid), comm, cpuMs: ((Number(rest[11]) + Number(rest[12])) / hz) * 1000 });
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return out;
}

/** VmRSS of one process (KiB), 0 when it is gone. */
export function readRssKiB(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

export class ProcSampler {
  private readonly hz = clockTicks();
  private phase = 'setup';
  private timer?: NodeJS.Timeout;
  private previous = new Map<string, { ticks: number; at: number }>();
  private readonly usage = new Map<string, Map<string, Acc>>();

  constructor(
    private readonly targets: ProcTarget[],
    private readonly intervalMs = 1000,
  ) {}

  static available(): boolean {
    try {
      readFileSync('/proc/self/stat', 'utf8');
      return true;
    } catch {
      return false;
    }
  }

  setPhase(phase: string): void {
    this.sample(); // the interval so far belongs to the phase that is ending
    this.phase = phase;
  }

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
  }

  stop(): void {
    if (this.timer) this.sample(); // the last partial interval
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  summary(name: string, phase: string): PhaseUsage | undefined {
    const a = this.usage.get(name)?.get(phase);
    if (!a || a.wallS <= 0) return undefined;
    return {
      avgCpuPct: (a.cpuS / a.wallS) * 100,
      cpuSeconds: a.cpuS,
      maxCpuPct: a.maxCpuPct,
      peakRssMiB: a.peakRssKiB / 1024,
      lastRssMiB: a.lastRssKiB / 1024,
      samples: a.samples,
      seconds: a.wallS,
    };
  }

  private sample(): void {
    const now = performance.now();
    const stats = new Map<number, Stat>();
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const s = readStat(Number(entry));
      if (s) stats.set(Number(entry), s);
    }
    const children = new Map<number, number[]>();
    for (const [pid, s] of stats) {
      const list = children.get(s.ppid);
      if (list) list.push(pid);
      else children.set(s.ppid, [pid]);
    }
    for (const target of this.targets) {
      if (!stats.has(target.pid)) continue; // exited (or not started): nothing to measure
      const tree: number[] = [];
      const queue = [target.pid];
      while (queue.length) {
        const pid = queue.pop()!;
        tree.push(pid);
        queue.push(...(children.get(pid) ?? []));
      }
      const ticks = tree.reduce((sum, pid) => sum + (stats.get(pid)?.ticks ?? 0), 0);
      const rss = tree.reduce((sum, pid) => sum + readRssKiB(pid), 0);
      const prev = this.previous.get(target.name);
      this.previous.set(target.name, { ticks, at: now });
      if (!prev) continue;
      const wallS = (now - prev.at) / 1000;
      if (wallS <= 0) continue;
      const cpuS = Math.max(0, ticks - prev.ticks) / this.hz;
      const byPhase = this.usage.get(target.name) ?? new Map<string, Acc>();
      this.usage.set(target.name, byPhase);
      const acc = byPhase.get(this.phase) ?? { cpuS: 0, wallS: 0, maxCpuPct: 0, peakRssKiB: 0, lastRssKiB: 0, samples: 0 };
      byPhase.set(this.phase, acc);
      acc.cpuS += cpuS;
      acc.wallS += wallS;
      // Only whole intervals count for the maximum (short ones are noisy at 10 ms tick resolution).
      if (wallS >= (this.intervalMs / 1000) * 0.5) acc.maxCpuPct = Math.max(acc.maxCpuPct, (cpuS / wallS) * 100);
      acc.peakRssKiB = Math.max(acc.peakRssKiB, rss);
      acc.lastRssKiB = rss;
      acc.samples++;
    }
  }
}
