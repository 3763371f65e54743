import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runReel } from '../support/reel-cli.js';
import { startTestStack, type TestStack } from '../support/stack.js';

/**
 * `reel batch` against the embedded stack, as a separate process: a 20-line JSONL file with two
 * copied lines and two bad ones renders 16 real videos and downloads each as <task_id>.mp4; the
 * same file again with --idempotent makes no new task. A CSV file: values typed as the schema
 * wants them, and the API's 409 for a creator+video that is still running.
 */
let stack: TestStack;
let dir: string;
beforeAll(async () => {
  stack = await startTestStack();
  dir = mkdtempSync(join(tmpdir(), 'reel-batch-'));
});
afterAll(async () => {
  await stack?.close();
  rmSync(dir, { recursive: true, force: true });
});

const taskCount = async () => {
  const res = await fetch(`${stack.apiUrl}/api/pipeline/tasks?limit=100`);
  return ((await res.json()) as { tasks: unknown[] }).tasks.length;
};

describe('reel batch FILE.jsonl --wait --out DIR --idempotent', () => {
  // lines 1-20: 16 distinct requests, line 6 copies line 2, line 13 copies line 8, line 10 has a bad id, line 17 is no JSON
  const distinct = Array.from({ length: 16 }, (_, i) =>
    JSON.stringify({ creator_id: 'batch', video_id: `v${i + 1}`, gender: 1 + (i % 2), source_text: 'One short line.' }),
  );
  const lines = [...distinct];
  lines.splice(5, 0, distinct[1]);
  lines.splice(12, 0, distinct[6]);
  lines.splice(9, 0, JSON.stringify({ creator_id: 'batch', video_id: 'bad id!', source_text: 'One short line.' }));
  lines.splice(16, 0, '{"creator_id": "batch", "video_id": ');
  const file = () => join(dir, 'requests.jsonl');
  const out = () => join(dir, 'out');
  const args = () => ['batch', file(), '--api', stack.apiUrl, '--wait', '--out', out(), '--idempotent', '--concurrency', '4', '--interval', '0.2'];
  let first: Array<{ line: number; outcome: string; task_id?: string; duplicate_of?: string; reason?: string; replayed?: boolean }>;

  it('downloads 16 videos, reports the 2 duplicates and the 2 invalid lines with reasons, and exits 1', async () => {
    expect(lines).toHaveLength(20);
    writeFileSync(file(), `${lines.join('\n')}\n`);

    const run = await runReel([...args(), '--json']);

    expect(run.code, run.stderr).toBe(1);
    first = (JSON.parse(run.stdout) as { lines: typeof first }).lines;
    const byLine = new Map(first.map((l) => [l.line, l]));
    expect(first.filter((l) => l.outcome === 'succeeded')).toHaveLength(16);
    expect(byLine.get(6)).toMatchObject({ outcome: 'duplicate', duplicate_of: byLine.get(2)!.task_id });
    expect(byLine.get(6)!.reason).toContain(`duplicate of ${byLine.get(2)!.task_id} (line 2)`);
    expect(byLine.get(14)).toMatchObject({ outcome: 'duplicate', duplicate_of: byLine.get(8)!.task_id });
    expect(byLine.get(10)).toMatchObject({ outcome: 'invalid', code: 'invalid_request' });
    expect(byLine.get(17)).toMatchObject({ outcome: 'invalid', code: 'invalid_line' });
    expect(byLine.get(17)!.reason).toMatch(/not valid JSON/);
    // the local check speaks the API's sentence
    const api = await stack.post(JSON.parse(lines[9]));
    expect(api.status).toBe(400);
    expect(byLine.get(10)!.reason).toBe(api.body.message);

    const ids = first.filter((l) => l.outcome === 'succeeded').map((l) => l.task_id!);
    expect(new Set(ids).size).toBe(16);
    const files = readdirSync(out()).sort();
    expect(files.filter((f) => f.endsWith('.mp4')).sort()).toEqual(ids.map((id) => `${id}.mp4`).sort());
    expect(files.filter((f) => f.endsWith('.draft.json'))).toHaveLength(16);
    expect(files.filter((f) => f.endsWith('.part'))).toEqual([]);
    for (const id of ids) {
      const mp4 = readFileSync(join(out(), `${id}.mp4`));
      expect(mp4.subarray(4, 8).toString('latin1')).toBe('ftyp');
      expect(JSON.parse(readFileSync(join(out(), `${id}.draft.json`), 'utf8'))).toMatchObject({ task_id: id });
    }
    expect(await taskCount()).toBe(16);
    // 16 renders: ~15 s on two idle cores, several times that while other suites share them
  }, 240_000);

  it('run again, submits nothing twice: the same 16 tasks, no new one, the same 4 lines reported', async () => {
    const run = await runReel(args());

    expect(run.code, run.stderr).toBe(1);
    expect(await taskCount()).toBe(16);
    for (const l of first.filter((x) => x.outcome === 'succeeded')) {
      expect(run.stdout).toMatch(new RegExp(`^${l.line} +succeeded +${l.task_id} `, 'm'));
    }
    const dup = first.find((l) => l.line === 6)!;
    expect(run.stdout).toMatch(new RegExp(`^6 +duplicate +${dup.duplicate_of} .*duplicate of ${dup.duplicate_of} \\(line 2\\)`, 'm'));
    expect(run.stdout).toMatch(/^10 +invalid .*video_id must be 1-64 characters/m);
    expect(run.stdout).toMatch(/^17 +invalid .*not valid JSON/m);
    expect(run.stdout).toMatch(/16 succeeded/);
    expect(run.stdout).toMatch(/2 duplicate/);
    expect(run.stdout).toMatch(/2 invalid/);
    expect(run.stdout).toMatch(/— 20 lines$/m);
    // progress went to stderr as plain lines (piped: no escape codes)
    expect(run.stderr).not.toContain('\x1b[');
  });
});

describe('reel batch FILE.csv', () => {
  it('types each cell as the schema wants it, reports the API duplicate of a running task by its holder and an API refusal by its code', async () => {
    const csv = [
      'creator_id,video_id,gender,export_video,source_text',
      'csv,v1,1,false,"One short line, with a comma."',
      'csv,v1,2,false,Another short line.',
      'csv,v2,7,false,One short line.',
      'csv,v5,,false,',
      '',
    ].join('\n');
    const file = join(dir, 'requests.csv');
    writeFileSync(file, csv);
    stack.controls.closeGate('Story');

    const run = await runReel(['batch', file, '--api', stack.apiUrl, '--concurrency', '1', '--json']);
    stack.controls.openGate('Story');

    expect(run.code, run.stderr).toBe(1);
    const result = JSON.parse(run.stdout) as { ok: boolean; lines: Array<Record<string, unknown>> };
    expect(result.ok).toBe(false);
    const [a, b, c, d] = result.lines;
    expect(a).toMatchObject({ line: 2, outcome: 'accepted' });
    expect(b).toMatchObject({ line: 3, outcome: 'duplicate', duplicate_of: a.task_id, code: 'duplicate_task' });
    expect(String(b.reason)).toContain(`duplicate of ${String(a.task_id)} (line 2)`);
    expect(c).toMatchObject({ line: 4, outcome: 'invalid', code: 'invalid_request' });
    expect(String(c.reason)).toContain('gender must be 0 (provider default), 1 (male) or 2 (female)');
    expect(d).toMatchObject({ line: 5, outcome: 'refused', code: 'source_missing' });
    expect(String(d.reason)).toMatch(/source/);
    const task = await stack.finished(String(a.task_id));
    expect(task).toMatchObject({ status: 'SUCCEEDED', gender: 1, export_video: false });
  });
});
