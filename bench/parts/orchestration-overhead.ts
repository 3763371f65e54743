/**
 * Part 3 — what the orchestration itself adds. Tasks with `export_video: false` and the shortest
 * stages (a two-word source), one at a time so nothing competes. Per task:
 *
 *   wall      = the execution's startDate → stopDate (DescribeExecution, local Step Functions API)
 *   stage work = Σ over story, tts, draft of the stage's own span in the task record
 *                (started_at → ended_at, written by the stage around its work)
 *   overhead  = wall − stage work;  per transition = overhead / transitions
 *
 * The overhead is broken down from the interpreter's state events into the Start and Finalize
 * states (bookkeeping Lambdas: lock lease, manifest, SUCCEEDED, lock release), the stages'
 * bookkeeping outside their recorded span (the final record write, the invocation), and the
 * interpreter itself (Choice states and the time between states).
 */
import { DescribeExecutionCommand } from '@aws-sdk/client-sfn';
import { startBenchStack } from '../support/bench-stack.js';
import { sampleLoad, type LoadSummary } from '../support/machine.js';
import { countTransitions, installStateEventTap, stateEventsOf, taskAttempts } from '../support/state-events.js';
import { latencySummary, max, median, percentile, round1, round3, sum } from '../support/stats.js';

export interface OverheadResult {
  tasks: number;
  warmup_tasks: number;
  source_text: string;
  failed: number;
  transitions_per_task: number | null;
  states: string[];
  wall_ms: Dist;
  stage_work_ms: Dist;
  overhead_ms: Dist;
  overhead_per_transition_ms: Dist;
  breakdown_median_ms: { start_state: number | null; finalize_state: number | null; stage_bookkeeping: number | null; interpreter_and_choices: number | null };
  submit_latency: ReturnType<typeof latencySummary>;
  load: LoadSummary;
}

type Dist = { p50: number | null; p95: number | null; max: number | null };
const dist = (values: number[]): Dist => ({ p50: round3(median(values)), p95: round3(percentile(values, 95)), max: round3(max(values)) });

export async function runOrchestrationOverhead(opts: { tasks: number }, progress: (line: string) => void): Promise<OverheadResult> {
  installStateEventTap();
  const stack = await startBenchStack();
  const load = sampleLoad();
  const sourceText = 'Hi there.';
  const warmup = 1;
  try {
    const rows: Array<{
      wall: number;
      work: number;
      transitions: number;
      start: number;
      finalize: number;
      bookkeeping: number;
      interpreter: number;
      submitMs: number;
      states: string[];
      ok: boolean;
    }> = [];
    for (let i = 0; i < warmup + opts.tasks; i++) {
      const answer = await stack.submit({ creator_id: 'overhead', video_id: `o-${i}`, source_text: sourceText, export_video: false });
      if (answer.status !== 202) throw new Error(`submission answered ${answer.status}: ${JSON.stringify(answer.body)}`);
      const id = String(answer.body.task_id);
      await stack.settled(id);
      if (i < warmup) continue;
      const record = await stack.task(id);
      const executionArn = record.execution_arn ?? `${stack.runtime.settings.stateMachineArn.replace(':stateMachine:', ':execution:')}:${id}`;
      const execution = await stack.runtime.sfn.send(new DescribeExecutionCommand({ executionArn }));
      const wall = (execution.stopDate?.getTime() ?? NaN) - (execution.startDate?.getTime() ?? NaN);
      const span = (s: { started_at?: string; ended_at?: string }) => (s.started_at && s.ended_at ? Date.parse(s.ended_at) - Date.parse(s.started_at) : 0);
      const work = span(record.stages.story) + span(record.stages.tts) + span(record.stages.draft);
      const events = stateEventsOf(id);
      const attempts = taskAttempts(events);
      const spanOf = (state: string) => sum(attempts.filter((a) => a.state === state).map((a) => a.ended - a.started));
      const stageStates = spanOf('Story') + spanOf('Tts') + spanOf('Draft');
      const allTasks = sum(attempts.map((a) => a.ended - a.started));
      const t = countTransitions(events);
      rows.push({
        wall,
        work,
        transitions: t.transitions,
        start: spanOf('Start'),
        finalize: spanOf('Finalize'),
        bookkeeping: stageStates - work,
        interpreter: wall - allTasks,
        submitMs: answer.ms,
        states: t.states,
        ok: record.status === 'SUCCEEDED',
      });
      if ((i - warmup + 1) % 5 === 0) progress(`  ${i - warmup + 1}/${opts.tasks} tasks`);
    }
    const ok = rows.filter((r) => r.ok);
    const overhead = ok.map((r) => r.wall - r.work);
    return {
      tasks: opts.tasks,
      warmup_tasks: warmup,
      source_text: sourceText,
      failed: rows.length - ok.length,
      transitions_per_task: median(ok.map((r) => r.transitions)),
      states: ok[0]?.states ?? [],
      wall_ms: dist(ok.map((r) => r.wall)),
      stage_work_ms: dist(ok.map((r) => r.work)),
      overhead_ms: dist(overhead),
      overhead_per_transition_ms: dist(ok.map((r) => (r.wall - r.work) / r.transitions)),
      breakdown_median_ms: {
        start_state: round1(median(ok.map((r) => r.start))),
        finalize_state: round1(median(ok.map((r) => r.finalize))),
        stage_bookkeeping: round1(median(ok.map((r) => r.bookkeeping))),
        interpreter_and_choices: round1(median(ok.map((r) => r.interpreter))),
      },
      submit_latency: latencySummary(rows.map((r) => r.submitMs)),
      load: load.stop(),
    };
  } finally {
    load.stop();
    await stack.close();
  }
}
