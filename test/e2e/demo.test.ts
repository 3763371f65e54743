import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../support/stack.js';

/** `npm run demo -- --short` as a newcomer runs it, against the embedded stack started in-process. */
let stack: TestStack;
let out: string;
beforeAll(async () => {
  out = mkdtempSync(path.join(tmpdir(), 'demo-out-'));
  stack = await startTestStack();
}, 60_000);
afterAll(async () => {
  await stack?.close();
  rmSync(out, { recursive: true, force: true });
});

function runDemo(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/demo.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

describe('npm run demo', () => {
  it('uploads sample media, follows a task with options to SUCCEEDED and prints where the mp4 and the draft archive are', async () => {
    const { code, stdout, stderr } = await runDemo(['--api', stack.apiUrl, '--short', '--out', out, '--subtitle-style', 'boxed', '--visual-fit', 'cover']);

    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain('uploaded media/01-风景.mp4');
    expect(stdout).toContain('uploaded music/背景音乐.mp3');
    for (const stage of ['story', 'tts', 'draft', 'export']) expect(stdout).toMatch(new RegExp(`^  ${stage}\\s+succeeded`, 'm'));
    const taskId = /Task (\S+) SUCCEEDED\./.exec(stdout)?.[1] ?? '';
    const task = await stack.getTask(taskId);
    expect(task.status).toBe('SUCCEEDED');
    expect(task.video_options).toMatchObject({ subtitle_style: 'boxed', visual_fit: 'cover' });

    const video = /video:\s+(\S+)\n\s+(http\S+)/.exec(stdout);
    expect(video?.[1]).toBe(path.join(out, taskId, 'final_video.mp4'));
    expect(video?.[2]).toBe(`${stack.apiUrl}/api/pipeline/tasks/${taskId}/artifacts/final_video.mp4`);
    expect(
      readFileSync(video?.[1] ?? '')
        .subarray(4, 8)
        .toString('latin1'),
    ).toBe('ftyp');
    const archive = /draft archive:\s+(\S+)\n\s+(http\S+)/.exec(stdout);
    expect(existsSync(archive?.[1] ?? '')).toBe(true);
    expect(readFileSync(archive?.[1] ?? '').subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
  }, 120_000);

  it('says in one line how to start the stack when nothing listens at --api', async () => {
    const { code, stdout, stderr } = await runDemo(['--api', 'http://127.0.0.1:9', '--short', '--out', out]);

    expect(code).toBe(1);
    expect(stderr.trim()).toMatch(
      /^Cannot reach the pipeline at http:\/\/127\.0\.0\.1:9\/api\/pipeline\/sources\/.* Start it first with "npm start", or pass --api URL\.$/,
    );
    expect(stdout).not.toContain('SUCCEEDED');
  }, 60_000);
});
