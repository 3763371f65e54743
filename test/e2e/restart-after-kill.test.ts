import { afterAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestStack, type TestStack } from '../support/stack.js';
import { recordReliability } from '../support/reliability.js';

/**
 * The whole embedded stack is killed (SIGKILL) with 5 tasks in 5 different stages: held at the
 * Story, Tts and Draft gates, one queued for export behind a render, and one rendering. After a
 * restart on the same data every task continues where it was and SUCCEEDS: finished stages are
 * not run again (their attempt counts are unchanged), the exporter renders each video once, no
 * lock is left behind, and every artifact written before the kill is intact. The stack runs as a
 * child process, driven over HTTP (test controls included) exactly as a user's process would be.
 */
const dataDirs: string[] = [];
let child: ChildProcess | undefined;
const restartedStacks: TestStack[] = [];

afterAll(async () => {
  child?.kill('SIGKILL');
  for (const stack of restartedStacks) await stack.close();
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      srv.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, tries = 600): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

type Where = 'Story' | 'Tts' | 'Draft' | 'queued' | 'rendering';
const WHERE: readonly Where[] = ['Story', 'Tts', 'Draft', 'queued', 'rendering'];
interface TaskView {
  status: string;
  stage: string;
  error?: { code: string; message: string };
  stages: Record<string, { status: string; attempts: number }>;
  artifacts: Array<{ name: string }>;
}

/** The stack as `npm start` runs it, in a child process on `dataDir`. */
async function spawnStack(dataDir: string): Promise<{ base: string; process: ChildProcess }> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const proc = spawn(process.execPath, ['--import', 'tsx', 'infra/embedded/main.ts'], {
    env: { ...process.env, DATA_DIR: dataDir, PORT: String(port), PIPELINE_TEST_CONTROLS: '1', LOG_LEVEL: 'warn' },
    stdio: 'ignore',
  });
  child = proc;
  await waitFor('the stack to listen', async () => ((await fetch(`${base}/api/health`)).ok ? true : undefined));
  return { base, process: proc };
}

async function kill(proc: ChildProcess): Promise<void> {
  proc.kill('SIGKILL');
  if (proc.exitCode === null && proc.signalCode === null) await new Promise((r) => proc.once('exit', r));
}

const getTask = async (base: string, id: string) => (await (await fetch(`${base}/api/pipeline/tasks/${id}`)).json()) as TaskView;

/** Puts one task in each of the five places; returns their ids. */
async function holdFiveTasks(base: string, creator: string): Promise<Record<Where, string>> {
  const ids = {} as Record<Where, string>;
  const submit = async (where: Where, text: string, exportVideo: boolean) => {
    const res = await fetch(`${base}/api/pipeline/run`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ creator_id: creator, video_id: where, source_text: text, export_video: exportVideo }),
    });
    expect(res.status).toBe(202);
    ids[where] = ((await res.json()) as { task_id: string }).task_id;
  };
  // A long narration keeps the render going while the other four tasks get into place.
  const long = Array.from({ length: 8 }, (_, i) => `Sentence ${i + 1} of the video that was rendering when the power went out.`).join(' ');
  await submit('rendering', long, true);
  await waitFor('a render under way', async () => ((await getTask(base, ids.rendering)).stages.export.status === 'running' ? true : undefined));
  await submit('queued', 'Queued for export behind the render when the power goes out.', true);
  await waitFor('a task queued for export', async () => ((await getTask(base, ids.queued)).stages.draft.status === 'succeeded' ? true : undefined));
  // Latest gate first: each task passes the still-open gates of earlier stages and stops at its own.
  for (const state of ['Draft', 'Tts', 'Story'] as const) {
    await fetch(`${base}/__test/gates/${state}/close`, { method: 'POST' });
    await submit(state, `Held at ${state} when the power goes out.`, false);
    await waitFor(`a task held at ${state}`, async () => {
      const gates = (await (await fetch(`${base}/__test/gates`)).json()) as { held: Record<string, string[]> };
      return gates.held[state]?.includes(ids[state]) ? true : undefined;
    });
  }
  return ids;
}

/** What each task had written (with hashes) and which stages it had finished, with their attempts. */
async function snapshot(base: string, ids: Record<Where, string>) {
  const written: Record<string, Record<string, string>> = {};
  const finishedStages: Record<string, Record<string, number>> = {};
  for (const where of WHERE) {
    const task = await getTask(base, ids[where]);
    written[where] = {};
    for (const a of task.artifacts) {
      const bytes = Buffer.from(await (await fetch(`${base}/api/pipeline/tasks/${ids[where]}/artifacts/${a.name}`)).arrayBuffer());
      written[where][a.name] = createHash('sha256').update(bytes).digest('hex');
    }
    finishedStages[where] = Object.fromEntries(
      Object.entries(task.stages)
        .filter(([, stage]) => stage.status === 'succeeded')
        .map(([name, stage]) => [name, stage.attempts]),
    );
  }
  return { written, finishedStages };
}

/** Restarts in-process on the same data and checks what the issue promises; records the reliability row. */
async function restartAndCheck(a: { dataDir: string; ids: Record<Where, string>; before: Awaited<ReturnType<typeof snapshot>>; fault: string }) {
  const restarted = await startTestStack({ dataDir: a.dataDir });
  restartedStacks.push(restarted);
  const tasks: Record<string, Awaited<ReturnType<TestStack['finished']>>> = {};
  for (const where of WHERE) tasks[where] = await restarted.finished(a.ids[where]);
  let changed = 0;
  let rerun = 0;
  for (const where of WHERE) {
    for (const [name, sha] of Object.entries(a.before.written[where])) {
      const res = await fetch(`${restarted.apiUrl}/api/pipeline/tasks/${a.ids[where]}/artifacts/${name}`);
      const bytes = Buffer.from(await res.arrayBuffer());
      if (res.status !== 200 || createHash('sha256').update(bytes).digest('hex') !== sha) changed += 1;
    }
    for (const [stage, attempts] of Object.entries(a.before.finishedStages[where])) {
      if (tasks[where].stages[stage as keyof (typeof tasks)[string]['stages']].attempts !== attempts) rerun += 1;
    }
  }
  const renders = restarted.exportService!.stats().jobs;
  const rendersOf = (id: string) => renders.filter((job) => job.task_id === id && job.state === 'succeeded').length;
  const leaked = (await restarted.itemKeys()).filter((k) => k.startsWith('LOCK#')).length;
  const succeeded = WHERE.filter((where) => tasks[where].status === 'SUCCEEDED').length;
  recordReliability({
    fault: a.fault,
    runs: WHERE.length,
    outcome: `${succeeded}/${WHERE.length} SUCCEEDED after restart, each continuing at its stage; ${rerun} finished stages run again; renders per exported task: ${rendersOf(a.ids.rendering)}, ${rendersOf(a.ids.queued)}`,
    data_lost: changed,
    duplicates: rerun + Math.max(0, rendersOf(a.ids.rendering) - 1) + Math.max(0, rendersOf(a.ids.queued) - 1),
    locks_leaked: leaked,
  });
  for (const where of WHERE) expect(tasks[where].status, where).toBe('SUCCEEDED');
  expect(rerun).toBe(0);
  expect(changed).toBe(0);
  expect(rendersOf(a.ids.rendering)).toBe(1);
  expect(rendersOf(a.ids.queued)).toBe(1);
  expect(restarted.exportService!.stats().max_concurrent_renders).toBeLessThanOrEqual(1);
  for (const where of ['rendering', 'queued'] as const) {
    expect(tasks[where].artifacts.map((artifact) => artifact.name)).toContain('final_video.mp4');
  }
  expect((await restarted.itemKeys()).filter((k) => k.startsWith('LOCK#'))).toEqual([]);
  return restarted;
}

describe('a killed stack', () => {
  it('continues the 5 interrupted tasks where they were after a restart: 5/5 SUCCEEDED, no stage run twice, one render each', async () => {
    // prepare
    const dataDir = mkdtempSync(join(tmpdir(), 'reel-kill-'));
    dataDirs.push(dataDir);
    const { base, process: proc } = await spawnStack(dataDir);
    const ids = await holdFiveTasks(base, 'killed');
    const before = await snapshot(base, ids);
    expect(Object.keys(before.written.queued)).toContain('draft.json');
    expect((await getTask(base, ids.rendering)).stages.export.status).toBe('running');
    expect((await getTask(base, ids.queued)).stages.export.status).not.toBe('succeeded');

    // act
    await kill(proc);
    const restarted = await restartAndCheck({
      dataDir,
      ids,
      before,
      fault: 'whole embedded stack SIGKILLed with 5 tasks in 5 stages (story, tts, draft, queued for export, rendering)',
    });

    // assess: the restarted stack takes new work for the same creator and video
    const again = await restarted.post({ creator_id: 'killed', video_id: 'Story', source_text: 'Back again.', export_video: false });
    expect(again.status).toBe(202);
    expect((await restarted.finished(again.body.task_id as string)).status).toBe('SUCCEEDED');
  }, 420_000);

  it('continues them as well when the stack is killed twice in a row, the second time while it resumes', async () => {
    // prepare
    const dataDir = mkdtempSync(join(tmpdir(), 'reel-kill2-'));
    dataDirs.push(dataDir);
    const first = await spawnStack(dataDir);
    const ids = await holdFiveTasks(first.base, 'killed-twice');
    const before = await snapshot(first.base, ids);

    // act: killed, restarted (the gates are open in the new process: every task moves on), killed again
    await kill(first.process);
    const second = await spawnStack(dataDir);
    await kill(second.process);

    // assess
    await restartAndCheck({
      dataDir,
      ids,
      before,
      fault: 'whole embedded stack SIGKILLed twice in a row (the second time while resuming) with 5 tasks in 5 stages',
    });
  }, 420_000);

  it('fails, with the reason, a task whose stored execution is unreadable or missing (older data), and still starts', async () => {
    // prepare: two tasks held at Story; one execution record is then corrupted, the other removed
    const dataDir = mkdtempSync(join(tmpdir(), 'reel-corrupt-'));
    dataDirs.push(dataDir);
    const { base, process: proc } = await spawnStack(dataDir);
    await fetch(`${base}/__test/gates/Story/close`, { method: 'POST' });
    const held: Record<'corrupt' | 'missing', string> = { corrupt: '', missing: '' };
    for (const videoId of ['corrupt', 'missing'] as const) {
      const res = await fetch(`${base}/api/pipeline/run`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ creator_id: 'unreadable', video_id: videoId, source_text: 'A record that will not read.', export_video: false }),
      });
      held[videoId] = ((await res.json()) as { task_id: string }).task_id;
      await waitFor('the task at Story', async () => {
        const gates = (await (await fetch(`${base}/__test/gates`)).json()) as { held: Record<string, string[]> };
        return gates.held.Story?.includes(held[videoId]) ? true : undefined;
      });
    }
    await kill(proc);
    writeFileSync(join(dataDir, 'step-functions', `${held.corrupt}.json`), '{"version": 1, "status": "RUN');
    rmSync(join(dataDir, 'step-functions', `${held.missing}.json`));

    // act
    const restarted = await startTestStack({ dataDir });
    restartedStacks.push(restarted);
    const corrupt = await restarted.finished(held.corrupt);
    const missing = await restarted.getTask(held.missing);

    // assess
    expect(corrupt.status).toBe('FAILED');
    expect(corrupt.error?.code).toBe('execution_record_unreadable');
    expect(corrupt.error?.message).toContain('stored record is unreadable');
    expect(missing.status).toBe('FAILED');
    expect(missing.error?.code).toBe('interrupted_by_restart');
    expect(missing.error?.message).toContain('interrupted by restart');
    expect((await restarted.itemKeys()).filter((k) => k.startsWith('LOCK#'))).toEqual([]);
    for (const videoId of ['corrupt', 'missing']) {
      const again = await restarted.post({ creator_id: 'unreadable', video_id: videoId, source_text: 'Back again.', export_video: false });
      expect(again.status).toBe(202);
      expect((await restarted.finished(again.body.task_id as string)).status).toBe('SUCCEEDED');
    }
  }, 180_000);
});
