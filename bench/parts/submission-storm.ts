/**
 * Part 2 — the submit path's own cost. Every accepted task is held at the `Story` gate (a test
 * control of the embedded stack), so no stage work competes with the submissions; what runs is
 * the API (validate → lock → snapshot the source → task record → StartExecution) and the Start
 * state. The load comes from a separate process (`load-generator.ts`) over loopback HTTP.
 *
 * 1. Burst: N simultaneous submissions, half of them duplicates of the other half (same
 *    creator+video) → accepted, rejected, time until the last answer, latency percentiles, and
 *    exactly one execution per creator+video (ListExecutions + DescribeExecution of the local
 *    Step Functions API).
 * 2. Sustained open loop: R submissions per second for S seconds, all distinct → latency
 *    percentiles of the answers.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DescribeExecutionCommand, ListExecutionsCommand, type ExecutionListItem } from '@aws-sdk/client-sfn';
import type { LoadPlan, LoadResult } from '../load-generator.js';
import { startBenchStack, type BenchStack } from '../support/bench-stack.js';
import { sampleThreadSplit, type ThreadSplit } from '../support/thread-split.js';
import { sampleLoad, type LoadSummary } from '../support/machine.js';
import { latencySummary, max, round1 } from '../support/stats.js';
import { withDeadline } from './our-design.js';

export interface StormOptions {
  burst: number;
  rate: number;
  seconds: number;
}

export interface StormResult {
  gate: string;
  warmup_submissions: number;
  burst: {
    submissions: number;
    distinct_videos: number;
    accepted: number;
    rejected_duplicate: number;
    other_answers: Record<string, number>;
    /** every 409 named the task that holds its creator+video */
    rejections_name_the_holder: boolean;
    /** from the scheduled send to the last complete answer */
    time_to_last_answer_ms: number | null;
    /** unanswered requests count at the timeout (see `censored_at_ms`), so percentiles are lower bounds then */
    latency: Latency;
    executions_started: number;
    /** CPU time of the stack's process (API, emulators, interpreter, Start states) per submission */
    server_cpu_ms_per_submission: number;
    /** that CPU by thread (main, emulators, the rest), and how long their event loops were busy, per submission */
    threads_ms_per_submission: ThreadSplit;
    videos_with_exactly_one_execution: number;
    exactly_one_execution_per_video: boolean;
    load: LoadSummary;
  };
  sustained: {
    rate_per_s: number;
    seconds: number;
    planned: number;
    sent: number;
    answered: number;
    accepted: number;
    other_answers: Record<string, number>;
    errors: number;
    /** achieved send rate over the sending window */
    achieved_rate_per_s: number | null;
    max_send_lag_ms: number | null;
    latency: Latency;
    executions_started: number;
    /** CPU time of the stack's process per submission: its ceiling is 1000 / this per second and core */
    server_cpu_ms_per_submission: number;
    /** that CPU by thread (main, emulators, the rest), and how long their event loops were busy, per submission */
    threads_ms_per_submission: ThreadSplit;
    load: LoadSummary;
  };
}

type Latency = ReturnType<typeof latencySummary> & { unanswered: number; censored_at_ms: number };

/** Latency percentiles where a request that got no answer counts as the timeout (a lower bound). */
function censoredLatency(results: LoadResult['results'], timeoutMs: number): Latency {
  const values = results.map((r) => r.latency_ms ?? timeoutMs);
  return { ...latencySummary(values), unanswered: results.filter((r) => r.latency_ms === null).length, censored_at_ms: timeoutMs };
}

const GATE = 'Story';
const BURST_TIMEOUT_MS = 30_000;
const SUSTAINED_TIMEOUT_MS = 60_000;

export async function runSubmissionStorm(opts: StormOptions, progress: (line: string) => void): Promise<StormResult> {
  const stack = await startBenchStack({ testControls: true });
  try {
    stack.controls.closeGate(GATE);
    const url = `${stack.apiUrl}/api/pipeline/run`;
    const body = (video: string) => ({ creator_id: 'storm', video_id: video, export_video: false, source_text: 'A storm of submissions.' });

    // Warm-up: a server that has answered before (module code compiled), as in service.
    const warmup = 3;
    for (let i = 0; i < warmup; i++) {
      const answer = await stack.submit(body(`warmup-${i}`));
      if (answer.status !== 202) throw new Error(`warm-up submission answered ${answer.status}`);
    }

    // 1. Burst
    const distinct = Math.ceil(opts.burst / 2);
    const burstPlan: LoadPlan = {
      url,
      requests: Array.from({ length: opts.burst }, (_, i) => ({ at_ms: 0, body: body(`burst-${i % distinct}`) })),
      timeout_ms: BURST_TIMEOUT_MS,
      deadline_ms: BURST_TIMEOUT_MS + 5_000,
    };
    progress(`  burst: ${opts.burst} simultaneous submissions (${distinct} creator+video pairs)`);
    let load = sampleLoad();
    let cpu = process.cpuUsage();
    let split = sampleThreadSplit(stack.emulatorThreads);
    const burst = await runLoad(burstPlan);
    const burstCpu = cpuMs(process.cpuUsage(cpu));
    const burstSplit = split.stop(opts.burst);
    const burstLoad = load.stop();
    const holderOf = new Map<string, string>();
    burst.results.forEach((r) => {
      if (r.status === 202 && r.task_id) holderOf.set(`burst-${r.index % distinct}`, r.task_id);
    });
    const rejected = burst.results.filter((r) => r.status === 409);
    const namesHolder = rejected.every((r) => r.task_id !== undefined && r.task_id === holderOf.get(`burst-${r.index % distinct}`));
    const accepted = burst.results.filter((r) => r.status === 202);
    await withDeadline(stack.controls.waitForArrivals(GATE, warmup + accepted.length), 60_000, 'accepted burst tasks did not reach the gate');
    const burstExecutions = await executionsFor(stack, new Set(accepted.map((r) => String(r.task_id))));
    const perVideo = new Map<string, number>();
    for (const e of burstExecutions) {
      const out = await stack.runtime.sfn.send(new DescribeExecutionCommand({ executionArn: e.executionArn }));
      const input = JSON.parse(out.input ?? '{}') as { creator_id?: string; video_id?: string };
      const key = `${input.creator_id}#${input.video_id}`;
      perVideo.set(key, (perVideo.get(key) ?? 0) + 1);
    }
    const exactlyOne = [...perVideo.values()].filter((n) => n === 1).length;

    // 2. Sustained open loop
    const planned = Math.round(opts.rate * opts.seconds);
    const sustainedPlan: LoadPlan = {
      url,
      requests: Array.from({ length: planned }, (_, i) => ({ at_ms: (i * 1000) / opts.rate, body: body(`steady-${i}`) })),
      timeout_ms: SUSTAINED_TIMEOUT_MS,
      deadline_ms: opts.seconds * 1000 + SUSTAINED_TIMEOUT_MS + 5_000,
    };
    progress(`  sustained: ${opts.rate}/s for ${opts.seconds} s (${planned} submissions, open loop)`);
    load = sampleLoad();
    cpu = process.cpuUsage();
    split = sampleThreadSplit(stack.emulatorThreads);
    const sustained = await runLoad(sustainedPlan);
    const sustainedCpu = cpuMs(process.cpuUsage(cpu));
    const sustainedSplit = split.stop(sustained.results.length);
    const sustainedLoad = load.stop();
    const steadyAccepted = sustained.results.filter((r) => r.status === 202);
    await withDeadline(
      stack.controls.waitForArrivals(GATE, warmup + accepted.length + steadyAccepted.length),
      60_000,
      'accepted sustained tasks did not reach the gate',
    );
    const steadyExecutions = await executionsFor(stack, new Set(steadyAccepted.map((r) => String(r.task_id))));
    const sentTimes = sustained.results.map((r) => r.scheduled_ms + r.send_lag_ms);
    const window = sentTimes.length > 1 ? (Math.max(...sentTimes) - Math.min(...sentTimes)) / 1000 : null;

    return {
      gate: GATE,
      warmup_submissions: warmup,
      burst: {
        submissions: opts.burst,
        distinct_videos: distinct,
        accepted: accepted.length,
        rejected_duplicate: rejected.filter((r) => r.error === 'duplicate_task').length,
        other_answers: tally(burst.results.filter((r) => r.status !== 202 && r.status !== 409)),
        rejections_name_the_holder: namesHolder,
        time_to_last_answer_ms: round1(max(burst.results.map((r) => r.answered_ms).filter((v): v is number => v !== null))),
        latency: censoredLatency(burst.results, BURST_TIMEOUT_MS),
        executions_started: burstExecutions.length,
        server_cpu_ms_per_submission: Math.round((burstCpu / opts.burst) * 10) / 10,
        threads_ms_per_submission: burstSplit,
        videos_with_exactly_one_execution: exactlyOne,
        exactly_one_execution_per_video: exactlyOne === distinct && burstExecutions.length === distinct,
        load: burstLoad,
      },
      sustained: {
        rate_per_s: opts.rate,
        seconds: opts.seconds,
        planned,
        sent: sustained.results.length,
        answered: sustained.results.filter((r) => r.status !== null).length,
        accepted: steadyAccepted.length,
        other_answers: tally(sustained.results.filter((r) => r.status !== 202)),
        errors: sustained.results.filter((r) => r.status === null).length,
        achieved_rate_per_s: window ? round1((sentTimes.length - 1) / window) : null,
        max_send_lag_ms: round1(max(sustained.results.map((r) => r.send_lag_ms))),
        latency: censoredLatency(sustained.results, SUSTAINED_TIMEOUT_MS),
        executions_started: steadyExecutions.length,
        server_cpu_ms_per_submission: Math.round((sustainedCpu / Math.max(1, sustained.results.length)) * 10) / 10,
        threads_ms_per_submission: sustainedSplit,
        load: sustainedLoad,
      },
    };
  } finally {
    await stack.close();
  }
}

const cpuMs = (usage: NodeJS.CpuUsage) => (usage.user + usage.system) / 1000;

function tally(results: LoadResult['results']): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of results) {
    const key = r.status === null ? `no answer (${r.error ?? 'error'})` : `${r.status}${r.error ? ` ${r.error}` : ''}`;
    out[key] = (out[key] ?? 0) + 1;
  }
  return out;
}

/** Executions of the state machine whose names (task ids) are in `names`, via ListExecutions. */
async function executionsFor(stack: BenchStack, names: Set<string>): Promise<ExecutionListItem[]> {
  const found: ExecutionListItem[] = [];
  let nextToken: string | undefined;
  do {
    const page = await stack.runtime.sfn.send(
      new ListExecutionsCommand({ stateMachineArn: stack.runtime.settings.stateMachineArn, maxResults: 1000, nextToken }),
    );
    for (const e of page.executions ?? []) if (e.name && names.has(e.name)) found.push(e);
    nextToken = page.nextToken;
  } while (nextToken);
  return found;
}

/** Runs a plan in a child process (same Node, same TypeScript loader) and returns its results. */
function runLoad(plan: LoadPlan): Promise<LoadResult> {
  const script = fileURLToPath(new URL('../load-generator.ts', import.meta.url));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, script], { stdio: ['pipe', 'pipe', 'inherit'] });
    const out: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`load generator exited with ${code}`));
      try {
        resolve(JSON.parse(Buffer.concat(out).toString('utf8')) as LoadResult);
      } catch (error: unknown) {
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
    child.stdin.end(JSON.stringify(plan));
  });
}
