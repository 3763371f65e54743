/**
 * `npm run bench` — how close the pipeline comes to keeping the single-threaded exporter
 * saturated, beside the design it replaces. Embedded stack, real stages.
 *
 *   npm run bench [-- --tasks 20 --narration-seconds 20 --burst 200 --rate 50 --seconds 20
 *                     --overhead-tasks 20 --naive-tasks 10 --parts export,naive,storm,overhead
 *                     --out bench/results/latest.json --svg bench/results/timeline.svg]
 *
 * Parts: 1 export-bound run · 2 submission storm · 3 orchestration overhead · 4 naive design vs
 * ours · `render` the renderer alone on clips + stills + music + word-highlight captions (not in
 * the default parts: `--parts render --render-seconds 60,180 --out bench/results/render.json`). Writes the results (JSON) and the timeline picture (SVG) of the export-bound run, and
 * prints a table with each target MET or MISSED. Every figure is measured in this run.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, basename } from 'node:path';
import { parseArgs } from 'node:util';
import { runNaiveDesign, type NaiveResult } from './parts/naive-design.js';
import { runOrchestrationOverhead, type OverheadResult } from './parts/orchestration-overhead.js';
import { runOurDesign, runSolo, type OurDesignResult, type SoloResult } from './parts/our-design.js';
import { runRenderBench, type RenderBenchResult } from './parts/render.js';
import { runSubmissionStorm, type StormResult } from './parts/submission-storm.js';
import { machineInfo, sampleLoad } from './support/machine.js';
import type { ThreadSplit } from './support/thread-split.js';
import { judgeTargets, physicalLimit, type TargetVerdict } from './targets.js';
import { captionFor, renderTimelineSvg } from './timeline-svg.js';

const { values: args } = parseArgs({
  options: {
    tasks: { type: 'string', default: '20' },
    'narration-seconds': { type: 'string', default: '20' },
    burst: { type: 'string', default: '200' },
    rate: { type: 'string', default: '50' },
    seconds: { type: 'string', default: '20' },
    'overhead-tasks': { type: 'string', default: '20' },
    'naive-tasks': { type: 'string', default: '10' },
    'solo-tasks': { type: 'string', default: '3' },
    'render-seconds': { type: 'string', default: '60,180' },
    parts: { type: 'string', default: 'export,storm,overhead,naive,solo' },
    out: { type: 'string', default: 'bench/results/latest.json' },
    svg: { type: 'string' },
  },
});

const int = (name: keyof typeof args, min: number): number => {
  const value = Number(args[name]);
  if (!Number.isInteger(value) || value < min) throw new Error(`--${String(name)} must be a whole number of at least ${min}, got "${String(args[name])}"`);
  return value;
};
const options = {
  tasks: int('tasks', 1),
  narration_seconds: int('narration-seconds', 1),
  burst: int('burst', 2),
  rate: int('rate', 1),
  seconds: int('seconds', 1),
  overhead_tasks: int('overhead-tasks', 1),
  naive_tasks: int('naive-tasks', 1),
  solo_tasks: int('solo-tasks', 1),
  parts: String(args.parts)
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean),
  render_seconds: String(args['render-seconds']).split(',').map(Number),
};
const known = new Set(['export', 'naive', 'storm', 'overhead', 'solo', 'render']);
if (options.render_seconds.some((s) => !Number.isInteger(s) || s < 6 || s > 600))
  throw new Error('--render-seconds must be whole seconds between 6 and 600, e.g. 60,180');
for (const p of options.parts) if (!known.has(p)) throw new Error(`unknown part "${p}" (parts: ${[...known].join(', ')})`);
// A bounded run: refuse loads beyond what this benchmark is meant to send.
if (options.burst > 1000 || options.rate > 500 || options.seconds > 120 || options.tasks > 100) {
  throw new Error('refusing an oversized run (burst ≤ 1000, rate ≤ 500/s, seconds ≤ 120, tasks ≤ 100)');
}
const outPath = String(args.out);
const svgPath = args.svg ?? (basename(outPath) === 'latest.json' ? join(dirname(outPath), 'timeline.svg') : outPath.replace(/\.json$/, '') + '.timeline.svg');

const startedAt = new Date();
const log = (line: string) => process.stdout.write(`${line}\n`);
const elapsed = () => `${((Date.now() - startedAt.getTime()) / 1000).toFixed(0)} s`;
const machine = machineInfo();
log(
  `reel-pipeline benchmark — ${machine.cpu_model}, ${machine.logical_cpus} CPUs, Node ${machine.node}, load average ${os
    .loadavg()
    .map((v) => v.toFixed(2))
    .join(' ')}`,
);
const wholeRun = sampleLoad();

let exportBound: OurDesignResult | undefined;
let naive: { naive: NaiveResult; ours: OurDesignResult } | undefined;
let storm: StormResult | undefined;
let overhead: OverheadResult | undefined;
let solo: SoloResult | undefined;
let render: RenderBenchResult | undefined;

if (options.parts.includes('export')) {
  log(`\n[1/4] export-bound run: ${options.tasks} tasks, ~${options.narration_seconds} s narrations (${elapsed()})`);
  exportBound = await runOurDesign({ tasks: options.tasks, narrationSeconds: options.narration_seconds, label: 'export-bound' }, log);
}
if (options.parts.includes('storm')) {
  log(`\n[2/4] submission storm: burst ${options.burst}, then ${options.rate}/s for ${options.seconds} s (${elapsed()})`);
  storm = await runSubmissionStorm({ burst: options.burst, rate: options.rate, seconds: options.seconds }, log);
}
if (options.parts.includes('overhead')) {
  log(`\n[3/4] orchestration overhead: ${options.overhead_tasks} tasks without export, one at a time (${elapsed()})`);
  overhead = await runOrchestrationOverhead({ tasks: options.overhead_tasks }, log);
}

if (options.parts.includes('naive')) {
  log(`\n[4/4] naive design: ${options.naive_tasks} tasks, direct calls, 503 → retry every 2 s (${elapsed()})`);
  const naiveResult = await runNaiveDesign({ tasks: options.naive_tasks, narrationSeconds: options.narration_seconds, label: 'naive' }, log);
  log(`      ours, same ${options.naive_tasks} tasks (${elapsed()})`);
  const ours = await runOurDesign({ tasks: options.naive_tasks, narrationSeconds: options.narration_seconds, label: 'ours-vs-naive' }, log);
  naive = { naive: naiveResult, ours };
}
if (options.parts.includes('solo')) {
  log(`\n[cost input] stage durations of ${options.solo_tasks} tasks run alone, one at a time (${elapsed()})`);
  solo = await runSolo({ tasks: options.solo_tasks, narrationSeconds: options.narration_seconds }, log);
}

if (options.parts.includes('render')) {
  log(`\n[render] the renderer alone: ${options.render_seconds.join(' s, ')} s of narration over clips, stills, music and captions (${elapsed()})`);
  render = await runRenderBench({ lengths: options.render_seconds }, log);
}

const finishedAt = new Date();
const limit = physicalLimit(exportBound, solo);
const targets = judgeTargets({ exportBound, storm, overhead, limit });
const results = {
  schema: 1,
  started_at: startedAt.toISOString(),
  finished_at: finishedAt.toISOString(),
  duration_s: Math.round((finishedAt.getTime() - startedAt.getTime()) / 1000),
  options,
  machine,
  load: wholeRun.stop(),
  export_bound: exportBound ?? null,
  /** the export-bound makespan against solo time-to-first-draft + exporter busy (export and solo parts) */
  physical_limit: limit,
  naive_vs_ours: naive ?? null,
  storm: storm ?? null,
  overhead: overhead ?? null,
  solo: solo ?? null,
  render: render ?? null,
  targets,
};
mkdirSync(dirname(outPath), { recursive: true });
writeFileSync(outPath, `${JSON.stringify(results, null, 2)}\n`);
if (exportBound) writeFileSync(svgPath, renderTimelineSvg(exportBound.timeline, captionFor(exportBound, results.finished_at)));

printTable({ exportBound, naive, storm, overhead, targets });
if (limit) {
  log(
    `\nheadline: makespan / (solo time to first draft + exporter busy) = ${limit.makespan_ms} / (${limit.solo_time_to_first_draft_ms} + ${limit.exporter_busy_ms}) ms = ${limit.ratio}`,
  );
}
if (render) printRender(render);
log(
  `\nload average during the run: 1-min mean ${results.load.load1_mean} (min ${results.load.load1_min}, max ${results.load.load1_max}) on ${machine.logical_cpus} CPUs`,
);
log(`wrote ${outPath}${exportBound ? ` and ${svgPath}` : ''} in ${results.duration_s} s`);
// Handles of the closed stacks (emulators, sockets) can keep the loop alive for a while.
process.exit(0);

function printRender(r: RenderBenchResult): void {
  log(`\n— render: ${r.canvas} ${r.fps} fps, ${r.timeline} —`);
  for (const run of r.runs) {
    log(
      `${String(run.narration_s).padStart(4)} s: ${run.x_real_time}× real time (target ≥ 2), ${run.frames_per_s} frames/s, peak memory worker ${run.worker_peak_rss_mb} MB + ffmpeg ${run.ffmpeg_peak_rss_mb} MB (target ≤ 600), load ${run.load.load1_mean}`,
    );
  }
  log(
    `Ken Burns still alone (zoompan, no encode): ${Object.entries(r.ken_burns_still_x_real_time)
      .map(([k, v]) => `${k} ${v}×`)
      .join(', ')} real time`,
  );
}

function printTable(r: {
  exportBound?: OurDesignResult;
  naive?: { naive: NaiveResult; ours: OurDesignResult };
  storm?: StormResult;
  overhead?: OverheadResult;
  targets: TargetVerdict[];
}): void {
  const rows: Array<[string, string]> = [];
  const s = (v: number | null | undefined, unit = '') => (v === null || v === undefined ? 'n/a' : `${v}${unit}`);
  const threads = (t: ThreadSplit | undefined) =>
    t
      ? `CPU ${s(t.main_cpu_ms)} / ${s(t.emulators_cpu_ms)} / ${s(t.other_threads_cpu_ms)} ms, loop busy ${t.main_loop_busy_ms} / ${t.emulator_loops_busy_ms} ms`
      : 'n/a';
  const sec = (v: number | null | undefined) => (v === null || v === undefined ? 'n/a' : `${(v / 1000).toFixed(2)} s`);
  const e = r.exportBound;
  if (e) {
    rows.push([
      '— 1. export-bound run —',
      `${e.succeeded}/${e.tasks} tasks succeeded, narrations ${s(e.narration_s.mean)} s (${s(e.narration_s.min)}–${s(e.narration_s.max)})`,
    ]);
    rows.push(['makespan', sec(e.makespan_ms)]);
    rows.push(['exporter busy (its own runs)', `${sec(e.exporter_busy_ms)} (render only ${sec(e.exporter_render_busy_ms)})`]);
    rows.push([
      'time until the first export starts',
      `${sec(e.first_export_start_ms)} (drafts ready from ${sec(e.drafts_ready_ms.first)} to ${sec(e.drafts_ready_ms.last)})`,
    ]);
    rows.push(['after the last export (store video, finalize)', sec(e.tail_after_last_export_ms)]);
    rows.push(['ratio makespan / (first start + busy)', s(e.ratio)]);
    rows.push(['exporter utilization (first start → last end)', e.utilization === null ? 'n/a' : `${(e.utilization * 100).toFixed(1)} %`]);
    rows.push(['gaps between exports: max / p95 / mean', `${s(e.gaps_ms.max, ' ms')} / ${s(e.gaps_ms.p95, ' ms')} / ${s(e.gaps_ms.mean, ' ms')}`]);
    rows.push(['overlapping exports / max concurrent renders', `${e.overlapping_exports} / ${e.max_concurrent_renders}`]);
    rows.push(['state transitions per task (retries seen)', `${s(e.transitions.per_task_mean)} (${e.transitions.retries_seen})`]);
  }
  const n = r.naive;
  if (n) {
    rows.push([`— 4. naive vs ours, ${n.naive.tasks} tasks —`, 'naive  |  ours']);
    rows.push(['makespan', `${sec(n.naive.makespan_ms)}  |  ${sec(n.ours.makespan_ms)}`]);
    rows.push(['503 retries', `${n.naive.retries}  |  ${n.ours.exporter_busy_answers}`]);
    rows.push([
      'exporter idle between jobs (total / max)',
      `${sec(n.naive.gaps_ms.total)} / ${s(n.naive.gaps_ms.max, ' ms')}  |  ${sec(n.ours.gaps_ms.total)} / ${s(n.ours.gaps_ms.max, ' ms')}`,
    ]);
    rows.push(['  of which a draft was waiting', `${sec(n.naive.idle_while_waiting_ms)}  |  ${sec(n.ours.idle_while_waiting_ms)}`]);
    rows.push([
      'out-of-order completions (largest head start)',
      `${n.naive.out_of_order_completions} (${n.naive.out_of_order_max_lead_ms} ms)  |  ${n.ours.out_of_order_completions} (${n.ours.out_of_order_max_lead_ms} ms)`,
    ]);
    rows.push(['overlapping exports', `${n.naive.overlapping_exports}  |  ${n.ours.overlapping_exports}`]);
  }
  const st = r.storm;
  if (st) {
    const b = st.burst;
    rows.push(['— 2. submission storm —', `accepted tasks held at the ${st.gate} gate`]);
    rows.push([
      `burst of ${b.submissions} (${b.distinct_videos} creator+video pairs)`,
      `${b.accepted} accepted, ${b.rejected_duplicate} × 409 duplicate${Object.keys(b.other_answers).length ? `, other: ${JSON.stringify(b.other_answers)}` : ''}`,
    ]);
    rows.push(['  time until the last answer', s(b.time_to_last_answer_ms, ' ms')]);
    rows.push(['  latency p50 / p95 / p99', `${s(b.latency.p50_ms, ' ms')} / ${s(b.latency.p95_ms, ' ms')} / ${s(b.latency.p99_ms, ' ms')}`]);
    rows.push(['  server CPU per submission', s(b.server_cpu_ms_per_submission, ' ms')]);
    rows.push(['    main thread / emulator thread / other threads', threads(b.threads_ms_per_submission)]);
    rows.push([
      '  one execution per creator+video',
      `${b.exactly_one_execution_per_video ? 'yes' : 'NO'} (${b.executions_started} executions; 409s name the holder: ${b.rejections_name_the_holder ? 'yes' : 'NO'})`,
    ]);
    const su = st.sustained;
    rows.push([
      `sustained ${su.rate_per_s}/s for ${su.seconds} s (open loop)`,
      `${su.answered}/${su.planned} answered, ${su.accepted} accepted, achieved ${s(su.achieved_rate_per_s)}/s`,
    ]);
    rows.push(['  latency p50 / p95 / p99', `${s(su.latency.p50_ms, ' ms')} / ${s(su.latency.p95_ms, ' ms')} / ${s(su.latency.p99_ms, ' ms')}`]);
    rows.push(['  server CPU per submission', s(su.server_cpu_ms_per_submission, ' ms')]);
    rows.push(['    main thread / emulator thread / other threads', threads(su.threads_ms_per_submission)]);
  }
  const o = r.overhead;
  if (o) {
    rows.push(['— 3. orchestration overhead —', `${o.tasks} tasks, export off, source "${o.source_text}"`]);
    rows.push(['wall (execution) p50', s(o.wall_ms.p50, ' ms')]);
    rows.push(['stage work p50 / overhead p50', `${s(o.stage_work_ms.p50, ' ms')} / ${s(o.overhead_ms.p50, ' ms')}`]);
    rows.push(['transitions per task', s(o.transitions_per_task)]);
    rows.push(['overhead per transition p50 / p95', `${s(o.overhead_per_transition_ms.p50, ' ms')} / ${s(o.overhead_per_transition_ms.p95, ' ms')}`]);
    const bd = o.breakdown_median_ms;
    rows.push([
      '  of which Start / Finalize / stage bookkeeping / interpreter',
      `${s(bd.start_state)} / ${s(bd.finalize_state)} / ${s(bd.stage_bookkeeping)} / ${s(bd.interpreter_and_choices)} ms`,
    ]);
  }
  rows.push(['— targets —', '']);
  for (const t of r.targets) rows.push([t.target, `${t.met === null ? 'NOT RUN' : t.met ? 'MET   ' : 'MISSED'}  ${t.measured}`]);
  const width = Math.max(...rows.map(([k]) => k.length));
  log('');
  for (const [k, v] of rows) log(`${k.padEnd(width)}  ${v}`);
}
