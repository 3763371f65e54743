/**
 * Medians of the key figures over several benchmark runs (`bench/results/run-*.json`), for the
 * docs/performance.md: `npx tsx bench/medians.ts [files…]` → bench/results/medians.json.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { median } from './support/stats.js';

/** The figures docs/performance.md quotes, by path in a results file. */
const FIGURES = [
  'export_bound.makespan_ms',
  'export_bound.exporter_busy_ms',
  'export_bound.exporter_render_busy_ms',
  'export_bound.first_export_start_ms',
  'export_bound.drafts_ready_ms.first',
  'export_bound.drafts_ready_ms.last',
  'export_bound.tail_after_last_export_ms',
  'export_bound.gaps_ms.total',
  'export_bound.ratio',
  'export_bound.utilization',
  'export_bound.gaps_ms.max',
  'export_bound.gaps_ms.p95',
  'export_bound.gaps_ms.mean',
  'export_bound.overlapping_exports',
  'export_bound.max_concurrent_renders',
  'export_bound.transitions.per_task_mean',
  'export_bound.narration_s.mean',
  'export_bound.export_stage_ms.mean',
  'export_bound.task_state_ms.Tts.mean',
  'export_bound.task_state_ms.Finalize.mean',
  'storm.burst.accepted',
  'storm.burst.rejected_duplicate',
  'storm.burst.time_to_last_answer_ms',
  'storm.burst.latency.p50_ms',
  'storm.burst.latency.p95_ms',
  'storm.burst.latency.p99_ms',
  'storm.burst.server_cpu_ms_per_submission',
  'storm.burst.threads_ms_per_submission.main_cpu_ms',
  'storm.burst.threads_ms_per_submission.emulators_cpu_ms',
  'storm.burst.threads_ms_per_submission.other_threads_cpu_ms',
  'storm.sustained.achieved_rate_per_s',
  'storm.sustained.latency.p50_ms',
  'storm.sustained.latency.p95_ms',
  'storm.sustained.latency.p99_ms',
  'storm.sustained.latency.unanswered',
  'storm.sustained.server_cpu_ms_per_submission',
  'storm.sustained.threads_ms_per_submission.main_cpu_ms',
  'storm.sustained.threads_ms_per_submission.emulators_cpu_ms',
  'storm.sustained.threads_ms_per_submission.other_threads_cpu_ms',
  'overhead.transitions_per_task',
  'overhead.wall_ms.p50',
  'overhead.stage_work_ms.p50',
  'overhead.overhead_ms.p50',
  'overhead.overhead_per_transition_ms.p50',
  'overhead.overhead_per_transition_ms.p95',
  'overhead.breakdown_median_ms.start_state',
  'overhead.breakdown_median_ms.finalize_state',
  'overhead.breakdown_median_ms.stage_bookkeeping',
  'overhead.breakdown_median_ms.interpreter_and_choices',
  'overhead.submit_latency.p50_ms',
  'naive_vs_ours.naive.makespan_ms',
  'naive_vs_ours.ours.makespan_ms',
  'naive_vs_ours.naive.retries',
  'naive_vs_ours.ours.exporter_busy_answers',
  'naive_vs_ours.naive.gaps_ms.total',
  'naive_vs_ours.ours.gaps_ms.total',
  'naive_vs_ours.naive.gaps_ms.max',
  'naive_vs_ours.ours.gaps_ms.max',
  'naive_vs_ours.naive.idle_while_waiting_ms',
  'naive_vs_ours.ours.idle_while_waiting_ms',
  'naive_vs_ours.naive.out_of_order_completions',
  'naive_vs_ours.ours.out_of_order_completions',
  'naive_vs_ours.naive.out_of_order_max_lead_ms',
  'naive_vs_ours.ours.out_of_order_max_lead_ms',
  'naive_vs_ours.naive.retries_per_task_max',
  'naive_vs_ours.naive.wait_for_exporter_ms.mean',
  'naive_vs_ours.naive.exporter_busy_ms',
  'naive_vs_ours.ours.exporter_busy_ms',
  'solo.narration_s_mean',
  'solo.task_state_ms.Start.mean',
  'solo.task_state_ms.Story.mean',
  'solo.task_state_ms.Tts.mean',
  'solo.task_state_ms.Draft.mean',
  'solo.task_state_ms.Finalize.mean',
  'solo.export_stage_ms.mean',
  'export_bound.load.load1_mean',
  'storm.sustained.load.load1_mean',
  'load.load1_mean',
  'load.load1_max',
  'duration_s',
];

function at(obj: unknown, path: string): number | null {
  let v: unknown = obj;
  for (const key of path.split('.')) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined;
  return typeof v === 'number' ? v : null;
}

const dir = 'bench/results';
const files = process.argv.slice(2).length
  ? process.argv.slice(2)
  : readdirSync(dir)
      .filter((f) => /^run-\d+\.json$/.test(f))
      .sort()
      .map((f) => join(dir, f));
if (files.length === 0) throw new Error('no bench/results/run-<n>.json files (run: npm run bench -- --out bench/results/run-1.json)');
const runs = files.map((f) => JSON.parse(readFileSync(f, 'utf8')) as Record<string, unknown>);
const figures: Record<string, { median: number | null; runs: Array<number | null> }> = {};
for (const path of FIGURES) {
  const values = runs.map((r) => at(r, path));
  figures[path] = { median: median(values.filter((v): v is number => v !== null)), runs: values };
}
const targets = runs.map((r) => (r.targets as Array<{ target: string; met: boolean | null }> | undefined) ?? []);
const out = {
  files,
  machine: runs[0].machine,
  started_at: runs.map((r) => r.started_at),
  figures,
  targets_met_in_runs: Object.fromEntries(
    (targets[0] ?? []).map((t, i) => [t.target, `${targets.filter((list) => list[i]?.met === true).length}/${runs.length}`]),
  ),
};
writeFileSync(join(dir, 'medians.json'), `${JSON.stringify(out, null, 2)}\n`);
for (const [path, f] of Object.entries(figures)) console.log(`${path.padEnd(52)} ${String(f.median).padStart(10)}   runs: ${f.runs.join(', ')}`);
console.log(out.targets_met_in_runs);
console.log(`wrote ${join(dir, 'medians.json')}`);
