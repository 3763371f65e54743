/**
 * Where the stack's process spent a window, by thread: `process.cpuUsage()` counts every thread
 * together (the main loop, the emulator threads, V8's GC helpers, libuv's pool doing the file
 * system and LevelDB work). Two measures:
 *
 * - CPU time of the main thread and of the emulator threads from `/proc/self/task/<id>/stat`
 *   (Linux; null elsewhere); the rest of the process's CPU is its other threads;
 * - event-loop busy time (`performance.eventLoopUtilization()`), everywhere — wall time, so on a
 *   loaded machine it also counts time a loop waited for a core.
 */
import { readFileSync } from 'node:fs';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import type { EmulatorThread } from '../../infra/embedded/emulator-threads.js';

export interface ThreadSplit {
  main_cpu_ms: number | null;
  emulators_cpu_ms: number | null;
  /** GC helpers, libuv's pool (s3rver's files, LevelDB, the execution store's writes) */
  other_threads_cpu_ms: number | null;
  main_loop_busy_ms: number;
  emulator_loops_busy_ms: number;
}

/** /proc reports thread times in clock ticks of USER_HZ, 100 per second on Linux. */
const MS_PER_TICK = 10;

function threadCpuMs(osThreadId: number): number | null {
  try {
    // Fields after the command name: state is the 1st, utime the 12th, stime the 13th.
    const fields = readFileSync(`/proc/self/task/${osThreadId}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * MS_PER_TICK;
  } catch {
    return null;
  }
}

const processCpuMs = () => {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
};

function snapshot(threads: readonly EmulatorThread[]) {
  const emulatorCpu = threads.map((t) => (t.osThreadId === null ? null : threadCpuMs(t.osThreadId)));
  return {
    process: processCpuMs(),
    main: threadCpuMs(process.pid),
    emulators: emulatorCpu.includes(null) ? null : (emulatorCpu as number[]).reduce((a, b) => a + b, 0),
    mainLoop: performance.eventLoopUtilization(),
    emulatorLoops: threads.map((t): EventLoopUtilization => t.worker.performance.eventLoopUtilization()),
  };
}

/** Starts a window; `stop(n)` gives the split per submission (n submissions), to 0.1 ms. */
export function sampleThreadSplit(threads: readonly EmulatorThread[]): { stop(submissions: number): ThreadSplit } {
  const start = snapshot(threads);
  return {
    stop(submissions) {
      const end = snapshot(threads);
      const per = (ms: number | null) => (ms === null ? null : Math.round((ms / Math.max(1, submissions)) * 10) / 10);
      const main = start.main === null || end.main === null ? null : end.main - start.main;
      const emulators = start.emulators === null || end.emulators === null ? null : end.emulators - start.emulators;
      const other = main === null || emulators === null ? null : Math.max(0, end.process - start.process - main - emulators);
      return {
        main_cpu_ms: per(main),
        emulators_cpu_ms: per(emulators),
        other_threads_cpu_ms: per(other),
        main_loop_busy_ms: per(performance.eventLoopUtilization(start.mainLoop).active) ?? 0,
        emulator_loops_busy_ms: per(threads.reduce((sum, t, i) => sum + t.worker.performance.eventLoopUtilization(start.emulatorLoops[i]).active, 0)) ?? 0,
      };
    },
  };
}
