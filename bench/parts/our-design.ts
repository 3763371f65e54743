/**
 * Our design, end to end on the embedded stack with real stages: N tasks with export submitted
 * at once; stages run in parallel, exports go one at a time through the FIFO queue, the export
 * agent and the single-threaded export service. Used by part 1 (the export-bound run, N = 20)
 * and as "ours" beside the naive design in part 4 (N = 10).
 *
 * Everything reported comes from the records the system keeps itself: the task records (stage
 * started_at / ended_at, export queued_at), the exporter's own `/stats` (each run's started_at /
 * ended_at, busy_ms, max_concurrent_renders), the interpreter's state events, and the counted
 * AWS requests.
 */
import { listKeys } from '../../shared/artifacts.js';
import { ExporterBusyError, type Exporter } from '../../shared/export/exporter.js';
import type { ExportServiceStats } from '../../infra/embedded/export-service.js';
import { startBenchStack, ms, type TaskView } from '../support/bench-stack.js';
import { sampleLoad, type LoadSummary } from '../support/machine.js';
import { narrationSource } from '../support/narrations.js';
import { countRequests, type RequestCounts } from '../support/request-counter.js';
import { countTransitions, installStateEventTap, stateEventsOf, taskAttempts, type StateEvent } from '../support/state-events.js';
import { gapsAndOverlaps, largestOvertakenLead, latencySummary, max, mean, overtakes, percentile, round1, round3, sum } from '../support/stats.js';

export interface OurDesignOptions {
  tasks: number;
  narrationSeconds: number;
  /** video id prefix, distinct per run */
  label: string;
}

/** One task as the timeline draws it (epoch ms). */
export interface TimelineTask {
  task_id: string;
  index: number;
  status: string;
  submitted: number;
  stages: Record<'story' | 'tts' | 'draft', { start: number | null; end: number | null }>;
  export: { queued: number | null; start: number | null; end: number | null };
  ended: number | null;
}

export interface TimelineData {
  t0: number;
  tasks: TimelineTask[];
  /** the exporter's own runs */
  exporter_jobs: Array<{ task_id: string; run: number; state: string; start: number; end: number | null }>;
}

export interface OurDesignResult {
  tasks: number;
  succeeded: number;
  failed: Array<{ task_id: string; status: string; error?: unknown }>;
  narration_s: { mean: number | null; min: number | null; max: number | null };
  makespan_ms: number;
  /** the exporter's slot time: Σ (ended_at − started_at) of its runs, from /stats jobs */
  exporter_busy_ms: number;
  /** the exporter's render time only (`/stats` busy_ms; media downloads excluded) */
  exporter_render_busy_ms: number;
  first_export_start_ms: number | null;
  /** when the first and the last draft were ready (Draft state exited), from the submissions */
  drafts_ready_ms: { first: number | null; last: number | null };
  /** from the end of the last export to the end of the last task (video stored, Finalize) */
  tail_after_last_export_ms: number | null;
  /** makespan / (first export start + exporter busy) = 1 + (gaps + tail) / (first export start + busy) */
  ratio: number | null;
  /** exporter busy / (last export end − first export start) */
  utilization: number | null;
  gaps_ms: { count: number; max: number | null; p95: number | null; mean: number | null; total: number };
  /** exporter idle while at least one draft was ready and waiting */
  idle_while_waiting_ms: number;
  overlapping_exports: number;
  max_concurrent_renders: number;
  /** tasks whose export ended before that of a task whose draft was ready earlier */
  out_of_order_completions: number;
  /** the largest head start (draft ready earlier, export done later) among those, ms */
  out_of_order_max_lead_ms: number;
  /** 503 answers the export agent got from the exporter */
  exporter_busy_answers: number;
  submit_latency: ReturnType<typeof latencySummary>;
  /** per task, from the interpreter's events: states entered + retries */
  transitions: { per_task_mean: number | null; per_task_max: number | null; retries_seen: number; states_of_first_task: string[] };
  /** per Task state, each attempt's duration (what Lambda would bill), ms */
  task_state_ms: Record<string, { count: number; mean: number | null; p50: number | null; p95: number | null; max: number | null }>;
  /** first TTS start → last TTS end: the tasks share the one in-process eSpeak engine, which synthesizes one sentence at a time */
  tts_window_ms: number | null;
  /** the export stage as the worker ran it (accepted → video stored), per task, ms */
  export_stage_ms: { mean: number | null; p50: number | null; max: number | null };
  /** AWS requests made during the run, all tasks together (see request-counter.ts) */
  requests: RequestCounts;
  /** presigned media downloads the exporter made (one per material URL handed over) */
  exporter_media_downloads: number;
  /** stored objects per task: count and bytes, by artifact name (means) */
  artifacts_per_task: Record<string, { count: number; mean_bytes: number | null }>;
  /** characters per task: the source, and the narration the TTS stage spoke */
  characters: { source_mean: number | null; narration_mean: number | null; sentences_mean: number | null };
  /** state payload bytes per task (inputs of entered + outputs of exited states) */
  state_payload_bytes_per_task: number | null;
  load: LoadSummary;
  timeline: TimelineData;
}

/**
 * Runs `tasks` tasks of about `narrationSeconds` of narration through our design on a fresh
 * stack and measures it.
 */
export async function runOurDesign(opts: OurDesignOptions, progress: (line: string) => void): Promise<OurDesignResult> {
  installStateEventTap();
  const exporterCalls = { busy: 0, media: 0 };
  const stack = await startBenchStack({
    // Counting only: every call goes to the real exporter client unchanged.
    wrapExporter: (inner: Exporter): Exporter => ({
      submit: async (id, job, signal) => {
        try {
          await inner.submit(id, job, signal);
          exporterCalls.media += Object.keys(job.media).length;
        } catch (error: unknown) {
          if (error instanceof ExporterBusyError) exporterCalls.busy += 1;
          throw error;
        }
      },
      status: (id, wait, signal) => inner.status(id, wait, signal),
      video: (id, signal) => inner.video(id, signal),
      cancel: (id) => inner.cancel(id),
    }),
  });
  const counter = countRequests(stack.runtime);
  const load = sampleLoad();
  try {
    const sources = Array.from({ length: opts.tasks }, (_, i) => narrationSource(i, opts.narrationSeconds));
    const t0 = Date.now();
    const answers = await Promise.all(
      sources.map((text, i) => stack.submit({ creator_id: 'bench', video_id: `${opts.label}-${i}`, source_text: text, gender: i % 3, export_video: true })),
    );
    const refused = answers.filter((a) => a.status !== 202);
    if (refused.length) throw new Error(`${refused.length} submission(s) refused: ${JSON.stringify(refused[0].body)}`);
    const ids = answers.map((a) => String(a.body.task_id));
    progress(`  ${ids.length} tasks submitted; waiting for them to finish`);

    let finished = 0;
    const deadline = Math.max(300_000, opts.tasks * 90_000);
    await withDeadline(
      Promise.all(ids.map((id) => stack.settled(id).then(() => progress(`  ${++finished}/${ids.length} tasks finished`)))),
      deadline,
      `the ${opts.tasks} tasks did not finish within ${deadline / 1000} s`,
    );
    const requests = counter.snapshot();
    const loadSummary = load.stop();

    const records = await Promise.all(ids.map((id) => stack.task(id)));
    const stats = await stack.exporterStats();
    const events = new Map(ids.map((id) => [id, stateEventsOf(id)] as const));
    const keys = await listKeys(stack.runtime, 'tasks/');
    const sourceChars = sources.map((text) => [...text].length);
    return summarize({ opts, t0, ids, answers, records, stats, events, requests, keys, exporterCalls, sourceChars, load: loadSummary });
  } finally {
    load.stop();
    await stack.close();
  }
}

function summarize(a: {
  opts: OurDesignOptions;
  t0: number;
  ids: string[];
  answers: Array<{ ms: number }>;
  records: TaskView[];
  stats: ExportServiceStats;
  events: Map<string, StateEvent[]>;
  requests: RequestCounts;
  keys: Array<{ key: string; size: number }>;
  exporterCalls: { busy: number; media: number };
  sourceChars: number[];
  load: LoadSummary;
}): OurDesignResult {
  const { records, stats } = a;
  const mine = new Set(a.ids);
  const jobs = stats.jobs
    .filter((j) => mine.has(j.task_id))
    .map((j) => ({ task_id: j.task_id, run: j.run, state: j.state, start: Date.parse(j.started_at), end: j.ended_at ? Date.parse(j.ended_at) : null }));
  const doneJobs = jobs.filter((j): j is typeof j & { end: number } => j.end !== null);
  const succeeded = records.filter((r) => r.status === 'SUCCEEDED');
  const ends = records.map((r) => ms(r.ended_at)).filter((v): v is number => v !== null);
  const makespan = (max(ends) ?? Date.now()) - a.t0;
  const busy = sum(doneJobs.map((j) => j.end - j.start));
  const firstStart = jobs.length ? Math.min(...jobs.map((j) => j.start)) : null;
  const lastEnd = doneJobs.length ? Math.max(...doneJobs.map((j) => j.end)) : null;
  const { gaps, overlaps } = gapsAndOverlaps(doneJobs.map((j) => ({ start: j.start, end: j.end })));

  // "Ready" = the Draft state exited (the draft exists); "done" = the exporter's run ended.
  const readyAt = new Map<string, number>();
  for (const [id, evs] of a.events) {
    const exited = evs.find((e) => e.type === 'StateExited' && e.state === 'Draft');
    if (exited) readyAt.set(id, exited.at);
  }
  const lastJobOf = new Map<string, (typeof doneJobs)[number]>();
  for (const j of doneJobs) lastJobOf.set(j.task_id, j);
  const order = a.ids
    .filter((id) => readyAt.has(id) && lastJobOf.has(id))
    .map((id) => ({ ready: readyAt.get(id)!, start: lastJobOf.get(id)!.start, done: lastJobOf.get(id)!.end }));

  const transitions = a.ids.map((id) => countTransitions(a.events.get(id) ?? []));
  const attempts = a.ids.flatMap((id) => taskAttempts(a.events.get(id) ?? []));
  const byState: Record<string, number[]> = {};
  for (const t of attempts) (byState[t.state] ??= []).push(t.ended - t.started);
  const taskStateMs: OurDesignResult['task_state_ms'] = {};
  for (const [state, values] of Object.entries(byState)) {
    taskStateMs[state] = {
      count: values.length,
      mean: round1(mean(values)),
      p50: round1(percentile(values, 50)),
      p95: round1(percentile(values, 95)),
      max: round1(max(values)),
    };
  }
  const exportStage = records
    .map((r) => (r.stages.export.started_at && r.stages.export.ended_at ? Date.parse(r.stages.export.ended_at) - Date.parse(r.stages.export.started_at) : null))
    .filter((v): v is number => v !== null);

  const artifacts: Record<string, number[]> = {};
  for (const k of a.keys) {
    const [, id, name] = k.key.split('/');
    if (!mine.has(id) || !name) continue;
    (artifacts[name] ??= []).push(k.size);
  }
  const artifactsPerTask: OurDesignResult['artifacts_per_task'] = {};
  for (const [name, sizes] of Object.entries(artifacts)) artifactsPerTask[name] = { count: sizes.length / a.ids.length, mean_bytes: round1(mean(sizes)) };

  const num = (v: unknown) => (typeof v === 'number' ? v : null);
  const narration = records
    .map((r) => num(r.stages.tts.details?.duration_ms))
    .filter((v): v is number => v !== null)
    .map((v) => v / 1000);
  const payload = a.ids.map((id) =>
    sum((a.events.get(id) ?? []).filter((e) => e.type === 'StateEntered' || e.type === 'StateExited').map((e) => e.payloadBytes)),
  );

  const timelineTasks: TimelineTask[] = records.map((r, index) => ({
    task_id: r.task_id,
    index,
    status: r.status,
    submitted: Date.parse(r.created_at),
    stages: {
      story: { start: ms(r.stages.story.started_at), end: ms(r.stages.story.ended_at) },
      tts: { start: ms(r.stages.tts.started_at), end: ms(r.stages.tts.ended_at) },
      draft: { start: ms(r.stages.draft.started_at), end: ms(r.stages.draft.ended_at) },
    },
    export: { queued: ms(r.stages.export.queued_at), start: ms(r.stages.export.started_at), end: ms(r.stages.export.ended_at) },
    ended: ms(r.ended_at),
  }));

  return {
    tasks: a.ids.length,
    succeeded: succeeded.length,
    failed: records.filter((r) => r.status !== 'SUCCEEDED').map((r) => ({ task_id: r.task_id, status: r.status, error: r.error })),
    narration_s: { mean: round1(mean(narration)), min: round1(narration.length ? Math.min(...narration) : null), max: round1(max(narration)) },
    makespan_ms: Math.round(makespan),
    exporter_busy_ms: Math.round(busy),
    exporter_render_busy_ms: Math.round(stats.busy_ms),
    first_export_start_ms: firstStart === null ? null : firstStart - a.t0,
    drafts_ready_ms: {
      first: readyAt.size ? Math.min(...readyAt.values()) - a.t0 : null,
      last: readyAt.size ? Math.max(...readyAt.values()) - a.t0 : null,
    },
    tail_after_last_export_ms: lastEnd === null ? null : Math.round(a.t0 + makespan - lastEnd),
    ratio: firstStart === null ? null : round3(makespan / (firstStart - a.t0 + busy)),
    utilization: firstStart === null || lastEnd === null ? null : round3(busy / (lastEnd - firstStart)),
    gaps_ms: { count: gaps.length, max: round1(max(gaps)), p95: round1(percentile(gaps, 95)), mean: round1(mean(gaps)), total: Math.round(sum(gaps)) },
    idle_while_waiting_ms: Math.round(idleWhileWaiting(order)),
    overlapping_exports: overlaps,
    max_concurrent_renders: stats.max_concurrent_renders,
    out_of_order_completions: overtakes(order),
    out_of_order_max_lead_ms: Math.round(largestOvertakenLead(order)),
    exporter_busy_answers: a.exporterCalls.busy,
    submit_latency: latencySummary(a.answers.map((x) => x.ms)),
    transitions: {
      per_task_mean: round1(mean(transitions.map((t) => t.transitions))),
      per_task_max: max(transitions.map((t) => t.transitions)),
      retries_seen: sum(transitions.map((t) => t.retried)),
      states_of_first_task: transitions[0]?.states ?? [],
    },
    task_state_ms: taskStateMs,
    tts_window_ms: ttsWindow(records),
    export_stage_ms: { mean: round1(mean(exportStage)), p50: round1(percentile(exportStage, 50)), max: round1(max(exportStage)) },
    requests: a.requests,
    exporter_media_downloads: a.exporterCalls.media,
    artifacts_per_task: artifactsPerTask,
    characters: {
      source_mean: round1(mean(a.sourceChars)),
      narration_mean: round1(mean(records.map((r) => num(r.stages.story.details?.characters)).filter((v): v is number => v !== null))),
      sentences_mean: round1(mean(records.map((r) => num(r.stages.tts.details?.sentences)).filter((v): v is number => v !== null))),
    },
    state_payload_bytes_per_task: round1(mean(payload)),
    load: a.load,
    timeline: { t0: a.t0, tasks: timelineTasks, exporter_jobs: jobs },
  };
}

function ttsWindow(records: TaskView[]): number | null {
  const starts = records.map((r) => ms(r.stages.tts.started_at)).filter((v): v is number => v !== null);
  const ends = records.map((r) => ms(r.stages.tts.ended_at)).filter((v): v is number => v !== null);
  return starts.length && ends.length ? Math.max(...ends) - Math.min(...starts) : null;
}

/**
 * Exporter idle time during which some draft was ready and not yet started: for each gap between
 * consecutive exports, the part after the earliest ready time among tasks that started later.
 */
export function idleWhileWaiting(order: ReadonlyArray<{ ready: number; start: number; done: number }>): number {
  const byStart = [...order].sort((x, y) => x.start - y.start);
  let idle = 0;
  for (let i = 1; i < byStart.length; i++) {
    const gapStart = Math.max(...byStart.slice(0, i).map((t) => t.done));
    const gapEnd = byStart[i].start;
    if (gapEnd <= gapStart) continue;
    const earliestReady = Math.min(...byStart.slice(i).map((t) => t.ready));
    idle += Math.max(0, gapEnd - Math.max(gapStart, earliestReady));
  }
  return idle;
}

export async function withDeadline<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([work, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

export interface SoloResult {
  tasks: number;
  failed: number;
  narration_s_mean: number | null;
  /** each Task state attempt with the task alone on the stack (what one Lambda invocation does), ms */
  task_state_ms: OurDesignResult['task_state_ms'];
  /** the export stage (job accepted → video stored), ms */
  export_stage_ms: OurDesignResult['export_stage_ms'];
  load: LoadSummary;
}

/**
 * Stage durations of a task running alone — one at a time, nothing else on the stack — as each
 * Lambda invocation runs alone on AWS. `npm run cost` prices Lambda from these; the export-bound
 * run's durations are inflated by 20 tasks sharing one process and one eSpeak engine.
 */
export async function runSolo(opts: { tasks: number; narrationSeconds: number }, progress: (line: string) => void): Promise<SoloResult> {
  installStateEventTap();
  const stack = await startBenchStack();
  const load = sampleLoad();
  try {
    const ids: string[] = [];
    for (let i = 0; i < opts.tasks; i++) {
      // Different texts from the export-bound run's first tasks, same length.
      const text = narrationSource(100 + i, opts.narrationSeconds);
      const answer = await stack.submit({ creator_id: 'bench', video_id: `solo-${i}`, source_text: text, gender: i % 3, export_video: true });
      if (answer.status !== 202) throw new Error(`solo submission answered ${answer.status}`);
      const id = String(answer.body.task_id);
      await withDeadline(stack.settled(id), 300_000, 'a solo task did not finish within 300 s');
      ids.push(id);
      progress(`  ${i + 1}/${opts.tasks} solo tasks`);
    }
    const records = await Promise.all(ids.map((id) => stack.task(id)));
    const byState: Record<string, number[]> = {};
    for (const t of ids.flatMap((id) => taskAttempts(stateEventsOf(id)))) (byState[t.state] ??= []).push(t.ended - t.started);
    const taskStateMs: OurDesignResult['task_state_ms'] = {};
    for (const [state, values] of Object.entries(byState)) {
      taskStateMs[state] = {
        count: values.length,
        mean: round1(mean(values)),
        p50: round1(percentile(values, 50)),
        p95: round1(percentile(values, 95)),
        max: round1(max(values)),
      };
    }
    const exportStage = records
      .map((r) =>
        r.stages.export.started_at && r.stages.export.ended_at ? Date.parse(r.stages.export.ended_at) - Date.parse(r.stages.export.started_at) : null,
      )
      .filter((v): v is number => v !== null);
    const narration = records
      .map((r) => r.stages.tts.details?.duration_ms)
      .filter((v): v is number => typeof v === 'number')
      .map((v) => v / 1000);
    return {
      tasks: ids.length,
      failed: records.filter((r) => r.status !== 'SUCCEEDED').length,
      narration_s_mean: round1(mean(narration)),
      task_state_ms: taskStateMs,
      export_stage_ms: { mean: round1(mean(exportStage)), p50: round1(percentile(exportStage, 50)), max: round1(max(exportStage)) },
      load: load.stop(),
    };
  } finally {
    load.stop();
    await stack.close();
  }
}
