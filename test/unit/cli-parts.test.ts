import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { regionOfApiUrl } from '../../cli/api-client.js';
import { readBatchFile } from '../../cli/batch-file.js';
import { ProgressDisplay, batchRows, watchRows, type TaskView } from '../../cli/progress.js';
import { coerceFieldValue, requestFields } from '../../cli/request-fields.js';
import { canonicalJson, contentIdempotencyKey } from '../../cli/submission.js';
import { runRequestSchema } from '../../shared/request.js';

/** The CLI's pieces that need no API: the progress display, batch files, idempotency keys, flags from the schema. */
const dir = mkdtempSync(join(tmpdir(), 'reel-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const task = (over: Partial<TaskView> = {}): TaskView => ({
  task_id: 't1',
  creator_id: 'c',
  video_id: 'v',
  status: 'RUNNING',
  stage: 'tts',
  stages: {
    story: { status: 'succeeded', attempts: 1, started_at: '2026-12-01T00:00:00.000Z', ended_at: '2026-12-01T00:00:01.500Z' },
    tts: { status: 'running', attempts: 2, started_at: '2026-12-01T00:00:02.000Z' },
    draft: { status: 'pending', attempts: 0 },
    export: { status: 'pending', attempts: 0 },
  },
  ...over,
});

function sink() {
  const writes: string[] = [];
  return { writes, write: (text: string) => writes.push(text) };
}

describe('the progress display', () => {
  it('on a TTY redraws the block in place: cursor up by the rows drawn, each row cleared', () => {
    const out = sink();
    const display = new ProgressDisplay(out, true);

    display.update(watchRows(task(), true));
    display.update(watchRows(task({ status: 'SUCCEEDED', stage: 'done' }), true));

    expect(out.writes).toHaveLength(2);
    expect(out.writes[0].startsWith('\r\x1b[2Ktask t1 RUNNING at tts\n')).toBe(true);
    expect(out.writes[0].split('\r\x1b[2K')).toContainEqual(expect.stringMatching(/^ {2}tts +running +attempt 2 \d+\.\ds\n$/));
    expect(out.writes[1].startsWith('\x1b[5A\r\x1b[2Ktask t1 SUCCEEDED\n')).toBe(true);
  });

  it('piped, prints a row only when it changes, without escape codes or a ticking running time', () => {
    const out = sink();
    const display = new ProgressDisplay(out, false);

    display.update(watchRows(task(), false));
    display.update(watchRows(task(), false));
    display.update(watchRows(task({ status: 'FAILED', stage: 'tts', error: { stage: 'tts', code: 'tts_failed', message: 'The voice failed.' } }), false));

    expect(out.writes).toEqual([
      'task t1 RUNNING at tts\n',
      '  story   succeeded 1.5s\n',
      '  tts     running   attempt 2\n',
      '  draft   pending\n',
      '  export  pending\n',
      'task t1 FAILED at tts: tts_failed — The voice failed.\n',
    ]);
  });
});

describe('the batch display', () => {
  const many = Array.from({ length: 30 }, (_, i) => ({
    line: i + 1,
    task: task({ task_id: `t${i + 1}`, video_id: `v${i + 1}`, status: i < 20 ? 'SUCCEEDED' : i < 22 ? 'FAILED' : 'RUNNING' }),
  }));

  it('shows a row per task when they fit', () => {
    const rows = batchRows(many.slice(0, 3), 10);

    expect(rows.map(([key]) => key)).toEqual(['t1', 't2', 't3']);
    expect(rows[0][1]).toMatch(/^line 1 +c\/v1 +t1 +SUCCEEDED$/);
  });

  it('when they do not, counts them by status and shows the running ones within the height', () => {
    const rows = batchRows(many, 6);

    expect(rows.map(([, text]) => text.replace(/ +/g, ' '))).toEqual([
      '30 tasks: 20 SUCCEEDED, 2 FAILED, 8 RUNNING',
      'line 23 c/v23 t23 RUNNING at tts (running)',
      'line 24 c/v24 t24 RUNNING at tts (running)',
      'line 25 c/v25 t25 RUNNING at tts (running)',
      'line 26 c/v26 t26 RUNNING at tts (running)',
      '… and 4 more running',
    ]);
  });
});

describe('batch files', () => {
  it('reads JSON Lines by line number, skipping blanks and comments, and keeps a bad line with its reason', async () => {
    const file = join(dir, 'a.jsonl');
    writeFileSync(file, '{"creator_id":"c","video_id":"v1"}\n\n# a comment\n[1,2]\n{"creator_id":\n');

    const lines = await readBatchFile(file);

    expect(lines).toEqual([
      { line: 1, value: { creator_id: 'c', video_id: 'v1' } },
      { line: 4, error: 'the line is not a JSON object' },
      { line: 5, error: expect.stringMatching(/^the line is not valid JSON/) },
    ]);
  });

  it('reads CSV with quoted cells (commas, quotes, newlines), typed by the schema, uploads split on ";"', async () => {
    const file = join(dir, 'a.csv');
    writeFileSync(
      file,
      'creator_id,video_id,gender,export_video,source_text,upload_media\r\nc,007,1,false,"Say ""hi"", then\nstop.",a.png; b.mp4\r\nc,v2,,,x,\r\nc,v3,1,true,x,,extra\r\n',
    );

    const lines = await readBatchFile(file);

    expect(lines).toEqual([
      {
        line: 2,
        value: { creator_id: 'c', video_id: '007', gender: 1, export_video: false, source_text: 'Say "hi", then\nstop.', upload_media: ['a.png', 'b.mp4'] },
      },
      { line: 4, value: { creator_id: 'c', video_id: 'v2', source_text: 'x' } },
      { line: 5, error: 'the row has 7 cells but the header names 6 columns' },
    ]);
  });
});

describe('idempotency keys from content', () => {
  it('are equal for equal content whatever the key order, and differ for other content', () => {
    const a = contentIdempotencyKey({ video_id: 'v', creator_id: 'c', music: { name: 'm.mp3', volume: 0.2 } });
    const b = contentIdempotencyKey({ creator_id: 'c', music: { volume: 0.2, name: 'm.mp3' }, video_id: 'v' });
    const c = contentIdempotencyKey({ creator_id: 'c', video_id: 'w' });

    expect(canonicalJson({ b: [2, { d: 1, c: 0 }], a: 'x' })).toBe('{"a":"x","b":[2,{"c":0,"d":1}]}');
    expect(a).toBe(b);
    expect(a).not.toBe(c);
    expect(a).toMatch(/^reel-[0-9a-f]{64}$/);
  });
});

describe('flags from the request schema', () => {
  it('offer every field of the run request, with its kind, whether it is required and its default', () => {
    const fields = requestFields();

    expect(fields.map((f) => f.name)).toEqual(Object.keys(runRequestSchema.shape));
    expect(fields.find((f) => f.name === 'creator_id')).toMatchObject({ flag: 'creator-id', hint: 'text', required: true });
    expect(fields.find((f) => f.name === 'gender')).toMatchObject({ hint: '0|1|2', required: false, defaultValue: '0' });
    expect(fields.find((f) => f.name === 'export_video')).toMatchObject({ hint: 'true|false', defaultValue: 'true' });
  });

  it('keep text for text fields and read other values as JSON', () => {
    expect(coerceFieldValue('video_id', '007')).toBe('007');
    expect(coerceFieldValue('gender', '2')).toBe(2);
    expect(coerceFieldValue('export_video', 'false')).toBe(false);
    expect(coerceFieldValue('gender', 'two')).toBe('two');
  });

  it('find the region in an API Gateway URL', () => {
    expect(regionOfApiUrl('https://a1b2c3.execute-api.ap-southeast-1.amazonaws.com/prod')).toBe('ap-southeast-1');
    expect(regionOfApiUrl('http://127.0.0.1:51082')).toBeUndefined();
  });
});
