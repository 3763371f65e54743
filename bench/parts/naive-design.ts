/**
 * Part 4 — the design we replace, on the same machine in the same run: no export queue. Each task
 * runs story → TTS → draft through the same pipeline (`export_video: false`, so the state machine
 * never queues an export), and the moment its draft is ready (the Draft state exits) a client of
 * that task calls the export service directly: PUT the job; on 503 (busy) wait 2 s and PUT again,
 * ignoring Retry-After, as a typical client does and as the old system did; then long-poll the
 * job, download the video and store it. The same single-threaded export service, same renders.
 */
import { getObjectText, presignGet, putObject } from '../../shared/artifacts.js';
import type { Draft } from '../../shared/draft/draft.js';
import { ARTIFACT, taskArtifactKey } from '../../shared/keys.js';
import { startBenchStack } from '../support/bench-stack.js';
import { sampleLoad, type LoadSummary } from '../support/machine.js';
import { narrationSource } from '../support/narrations.js';
import { installStateEventTap, onStateEvent } from '../support/state-events.js';
import { gapsAndOverlaps, largestOvertakenLead, max, mean, overtakes, percentile, round1, sum } from '../support/stats.js';
import { idleWhileWaiting, withDeadline } from './our-design.js';

export const NAIVE_RETRY_INTERVAL_MS = 2000;

export interface NaiveResult {
  tasks: number;
  exported: number;
  failed: Array<{ task_id: string; error: string }>;
  retry_interval_ms: number;
  makespan_ms: number;
  /** 503 answers (each followed by a 2 s wait and a new PUT) */
  retries: number;
  retries_per_task_max: number;
  exporter_busy_ms: number;
  gaps_ms: { count: number; max: number | null; p95: number | null; mean: number | null; total: number };
  idle_while_waiting_ms: number;
  overlapping_exports: number;
  max_concurrent_renders: number;
  out_of_order_completions: number;
  /** the largest head start (draft ready earlier, export done later) among those, ms */
  out_of_order_max_lead_ms: number;
  /** from draft ready to the exporter accepting the job, per task */
  wait_for_exporter_ms: { mean: number | null; max: number | null };
  load: LoadSummary;
}

export async function runNaiveDesign(opts: { tasks: number; narrationSeconds: number; label: string }, progress: (line: string) => void): Promise<NaiveResult> {
  installStateEventTap();
  // No export agent: nothing consumes the export queue (and no task puts anything on it).
  const stack = await startBenchStack({ exportWorker: false });
  const load = sampleLoad();
  const mine = new Set<string>();
  const early = new Map<string, number>();
  const clients: Array<Promise<ClientOutcome>> = [];
  const startClient = (taskId: string, readyAt: number) => clients.push(naiveClient(stack.exportServiceUrl, stack.runtime, taskId, readyAt));
  const unsubscribe = onStateEvent((e) => {
    if (e.type !== 'StateExited' || e.state !== 'Draft') return;
    if (mine.has(e.execution)) startClient(e.execution, e.at);
    else early.set(e.execution, e.at);
  });
  try {
    const sources = Array.from({ length: opts.tasks }, (_, i) => narrationSource(i, opts.narrationSeconds));
    const t0 = Date.now();
    const answers = await Promise.all(
      sources.map((text, i) => stack.submit({ creator_id: 'bench', video_id: `${opts.label}-${i}`, source_text: text, gender: i % 3, export_video: false })),
    );
    if (answers.some((a) => a.status !== 202)) throw new Error('a naive-design submission was refused');
    for (const a of answers) {
      const id = String(a.body.task_id);
      mine.add(id);
      // A draft that was ready before the submission's answer was read (never in practice).
      const at = early.get(id);
      if (at !== undefined) startClient(id, at);
    }
    progress(`  ${answers.length} tasks submitted; each exports itself when its draft is ready`);
    const deadline = Math.max(300_000, opts.tasks * 120_000);
    await withDeadline(
      (async () => {
        while (clients.length < opts.tasks) await new Promise((r) => setTimeout(r, 100));
      })(),
      deadline,
      'not every naive-design task reached its draft',
    );
    let done = 0;
    const outcomes = await withDeadline(
      Promise.all(clients.map((c) => c.then((o) => (progress(`  ${++done}/${opts.tasks} naive exports finished`), o)))),
      deadline,
      'the naive-design exports did not finish in time',
    );
    const stats = (await (await fetch(`${stack.exportServiceUrl}/stats`)).json()) as import('../../infra/embedded/export-service.js').ExportServiceStats;
    const loadSummary = load.stop();

    const jobs = stats.jobs
      .filter((j) => mine.has(j.task_id) && j.ended_at)
      .map((j) => ({ task_id: j.task_id, start: Date.parse(j.started_at), end: Date.parse(j.ended_at!) }));
    const { gaps, overlaps } = gapsAndOverlaps(jobs);
    const ok = outcomes.filter((o): o is ClientOutcome & { acceptedAt: number; doneAt: number } => o.error === undefined);
    const jobOf = new Map(jobs.map((j) => [j.task_id, j] as const));
    const order = ok.filter((o) => jobOf.has(o.taskId)).map((o) => ({ ready: o.readyAt, start: jobOf.get(o.taskId)!.start, done: jobOf.get(o.taskId)!.end }));
    const waits = ok.map((o) => o.acceptedAt - o.readyAt);
    return {
      tasks: opts.tasks,
      exported: ok.length,
      failed: outcomes.filter((o) => o.error !== undefined).map((o) => ({ task_id: o.taskId, error: String(o.error) })),
      retry_interval_ms: NAIVE_RETRY_INTERVAL_MS,
      makespan_ms: Math.round((max(ok.map((o) => o.doneAt)) ?? Date.now()) - t0),
      retries: sum(outcomes.map((o) => o.retries)),
      retries_per_task_max: max(outcomes.map((o) => o.retries)) ?? 0,
      exporter_busy_ms: Math.round(sum(jobs.map((j) => j.end - j.start))),
      gaps_ms: { count: gaps.length, max: round1(max(gaps)), p95: round1(percentile(gaps, 95)), mean: round1(mean(gaps)), total: Math.round(sum(gaps)) },
      idle_while_waiting_ms: Math.round(idleWhileWaiting(order)),
      overlapping_exports: overlaps,
      max_concurrent_renders: stats.max_concurrent_renders,
      out_of_order_completions: overtakes(order),
      out_of_order_max_lead_ms: Math.round(largestOvertakenLead(order)),
      wait_for_exporter_ms: { mean: round1(mean(waits)), max: round1(max(waits)) },
      load: loadSummary,
    };
  } finally {
    unsubscribe();
    load.stop();
    await stack.close();
  }
}

interface ClientOutcome {
  taskId: string;
  readyAt: number;
  acceptedAt?: number;
  doneAt?: number;
  retries: number;
  error?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One task's own export client: the old system's behaviour. */
async function naiveClient(exporterUrl: string, rt: Parameters<typeof presignGet>[0], taskId: string, readyAt: number): Promise<ClientOutcome> {
  const outcome: ClientOutcome = { taskId, readyAt, retries: 0 };
  try {
    const draftText = await getObjectText(rt, taskArtifactKey(taskId, ARTIFACT.draft));
    if (draftText === undefined) throw new Error('draft missing');
    const draft = JSON.parse(draftText) as Draft;
    const media: Record<string, string> = {};
    for (const m of draft.materials) if ('key' in m) media[m.id] = await presignGet(rt, m.key);
    const job = JSON.stringify({ draft, media });
    // The export service's shared secret, as the worker sends it.
    const authorization = `Bearer ${rt.settings.exportAuthToken}`;
    for (;;) {
      const res = await fetch(`${exporterUrl}/jobs/${taskId}`, { method: 'PUT', headers: { 'content-type': 'application/json', authorization }, body: job });
      await res.text();
      if (res.status === 202) break;
      if (res.status !== 503) throw new Error(`the exporter answered ${res.status}`);
      outcome.retries += 1;
      if (outcome.retries > 1000) throw new Error('gave up after 1000 busy answers');
      await sleep(NAIVE_RETRY_INTERVAL_MS);
    }
    outcome.acceptedAt = Date.now();
    let state = 'running';
    while (state === 'running') {
      const res = await fetch(`${exporterUrl}/jobs/${taskId}?wait=20`, { headers: { authorization } });
      state = ((await res.json()) as { state: string }).state;
    }
    if (state !== 'succeeded') throw new Error(`export ${state}`);
    const video = await fetch(`${exporterUrl}/jobs/${taskId}/video`, { headers: { authorization } });
    await putObject(rt, taskArtifactKey(taskId, ARTIFACT.finalVideo), new Uint8Array(await video.arrayBuffer()), 'video/mp4');
    outcome.doneAt = Date.now();
  } catch (error: unknown) {
    outcome.error = error instanceof Error ? error.message : String(error);
  }
  return outcome;
}
