/** The machine a run measured, and how busy it was meanwhile (figures are judged against this). */
import { execFileSync } from 'node:child_process';
import os from 'node:os';

export interface MachineInfo {
  cpu_model: string;
  logical_cpus: number;
  memory_gib: number;
  platform: string;
  kernel: string;
  node: string;
  git_commit: string | null;
  /** files differing from the commit when the run started (others work in the same tree) */
  git_dirty_files: number | null;
}

export function machineInfo(): MachineInfo {
  const git = (args: string[]) => {
    try {
      return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return null;
    }
  };
  const status = git(['status', '--porcelain']);
  return {
    cpu_model: os.cpus()[0]?.model ?? 'unknown',
    logical_cpus: os.cpus().length,
    memory_gib: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    platform: `${os.platform()} ${os.arch()}`,
    kernel: os.release(),
    node: process.version,
    git_commit: git(['rev-parse', '--short', 'HEAD']),
    git_dirty_files: status === null ? null : status.split('\n').filter(Boolean).length,
  };
}

export interface LoadSample {
  at: number;
  load1: number;
}

export interface LoadSummary {
  /** os.loadavg() when the part started and ended: [1 min, 5 min, 15 min] */
  at_start: number[];
  at_end: number[];
  /** 1-minute load average sampled every 2 s during the part */
  load1_min: number;
  load1_mean: number;
  load1_max: number;
  samples: number;
}

/** Samples the 1-minute load average every 2 s until `stop()`. */
export function sampleLoad(): { stop(): LoadSummary } {
  const atStart = os.loadavg();
  const samples: LoadSample[] = [{ at: Date.now(), load1: atStart[0] }];
  const timer = setInterval(() => samples.push({ at: Date.now(), load1: os.loadavg()[0] }), 2000);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      const atEnd = os.loadavg();
      samples.push({ at: Date.now(), load1: atEnd[0] });
      const values = samples.map((s) => s.load1);
      const r = (v: number) => Math.round(v * 100) / 100;
      return {
        at_start: atStart.map(r),
        at_end: atEnd.map(r),
        load1_min: r(Math.min(...values)),
        load1_mean: r(values.reduce((a, b) => a + b, 0) / values.length),
        load1_max: r(Math.max(...values)),
        samples: values.length,
      };
    },
  };
}
