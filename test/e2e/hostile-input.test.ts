import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../support/stack.js';
import { recordReliability } from '../support/reliability.js';
import { RefusalTally } from '../support/refusal-tally.js';

const tally = new RefusalTally(() => stack);

/** Bad input gets a clear 4xx with a stable code and a sentence, and writes nothing. */
let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

const ok = { creator_id: 'c1', video_id: 'v1', export_video: false, source_text: 'Hello.' };
const huge = 'a'.repeat(10_000);

const cases: Array<{ name: string; status: number; code: string; body?: unknown; raw?: string; contentType?: string }> = [
  { name: 'traversal in creator_id', status: 400, code: 'invalid_request', body: { ...ok, creator_id: '../../etc' } },
  { name: 'traversal in video_id', status: 400, code: 'invalid_request', body: { ...ok, video_id: '..%2f..%2fsecret' } },
  { name: 'encoded dots in video_id', status: 400, code: 'invalid_request', body: { ...ok, video_id: '%2e%2e' } },
  { name: 'absolute path in creator_id', status: 400, code: 'invalid_request', body: { ...ok, creator_id: '/etc/passwd' } },
  { name: 'backslashes in video_id', status: 400, code: 'invalid_request', body: { ...ok, video_id: '..\\..\\x' } },
  { name: 'NUL in creator_id', status: 400, code: 'invalid_request', body: { ...ok, creator_id: 'a\u0000b' } },
  { name: 'unicode look-alike slash in video_id', status: 400, code: 'invalid_request', body: { ...ok, video_id: 'a\u2215b' } },
  { name: 'hash in creator_id (key separator)', status: 400, code: 'invalid_request', body: { ...ok, creator_id: 'a#b' } },
  { name: 'traversal in account_name', status: 400, code: 'invalid_request', body: { ...ok, account_name: '../x' } },
  { name: '10 kB creator_id', status: 400, code: 'invalid_request', body: { ...ok, creator_id: huge } },
  { name: 'empty video_id', status: 400, code: 'invalid_request', body: { ...ok, video_id: '' } },
  { name: 'numeric creator_id', status: 400, code: 'invalid_request', body: { ...ok, creator_id: 12 } },
  { name: 'gender as a string', status: 400, code: 'invalid_request', body: { ...ok, gender: '1' } },
  { name: 'gender out of range', status: 400, code: 'invalid_request', body: { ...ok, gender: 7 } },
  { name: 'export_video as a string', status: 400, code: 'invalid_request', body: { ...ok, export_video: 'False' } },
  { name: 'missing creator_id', status: 400, code: 'invalid_request', body: { video_id: 'v1' } },
  { name: 'missing everything', status: 400, code: 'invalid_request', body: {} },
  { name: 'unknown field', status: 400, code: 'invalid_request', body: { ...ok, priority: 'high' } },
  { name: '__proto__ key', status: 400, code: 'invalid_request', raw: '{"creator_id":"c1","video_id":"v1","__proto__":{"admin":true}}' },
  { name: 'constructor key', status: 400, code: 'invalid_request', body: { ...ok, constructor: { prototype: {} } } },
  { name: 'nested junk', status: 400, code: 'invalid_request', body: { ...ok, source_text: { nested: [1, 2, { deeper: true }] } } },
  { name: 'an array body', status: 400, code: 'invalid_request', body: [ok] },
  { name: 'a string body', status: 400, code: 'invalid_request', raw: '"creator_id"' },
  { name: 'null body', status: 400, code: 'invalid_request', raw: 'null' },
  { name: 'invalid JSON', status: 400, code: 'invalid_json', raw: '{"creator_id": "c1",' },
  { name: 'empty body', status: 400, code: 'invalid_json', raw: '' },
  { name: 'source_text over 50,000 characters', status: 400, code: 'invalid_request', body: { ...ok, source_text: '字'.repeat(50_001) } },
  { name: 'blank source_text', status: 400, code: 'invalid_request', body: { ...ok, source_text: '   ' } },
  { name: 'body over 1 MiB', status: 413, code: 'body_too_large', raw: JSON.stringify({ ...ok, source_text: 'x'.repeat(1_100_000) }) },
  { name: 'a space in creator_id', status: 400, code: 'invalid_request', body: { ...ok, creator_id: 'a b' } },
  { name: 'an array as video_id', status: 400, code: 'invalid_request', body: { ...ok, video_id: ['v1'] } },
  { name: 'null video_id', status: 400, code: 'invalid_request', body: { ...ok, video_id: null } },
  { name: 'fractional gender', status: 400, code: 'invalid_request', body: { ...ok, gender: 1.5 } },
  { name: 'null export_video', status: 400, code: 'invalid_request', body: { ...ok, export_video: null } },
  { name: 'account_name of 65 characters', status: 400, code: 'invalid_request', body: { ...ok, account_name: '名'.repeat(65) } },
  { name: 'a slash in account_name', status: 400, code: 'invalid_request', body: { ...ok, account_name: 'a/b' } },
  { name: 'numeric source_text', status: 400, code: 'invalid_request', body: { ...ok, source_text: 42 } },
  { name: 'deeply nested junk', status: 400, code: 'invalid_request', raw: `{"creator_id":"c1","video_id":"v1","x":${'['.repeat(500)}${']'.repeat(500)}}` },
  { name: 'an empty key', status: 400, code: 'invalid_request', raw: '{"creator_id":"c1","video_id":"v1","":1}' },
  { name: 'a fullwidth dot id (look-alike of ..)', status: 400, code: 'invalid_request', body: { ...ok, video_id: '\uff0e\uff0e' } },
  {
    name: 'form content type',
    status: 415,
    code: 'unsupported_media_type',
    raw: 'creator_id=c1&video_id=v1',
    contentType: 'application/x-www-form-urlencoded',
  },
  { name: 'text content type', status: 415, code: 'unsupported_media_type', body: ok, contentType: 'text/plain' },
];

describe('hostile and malformed submissions', () => {
  it.each(cases)('answers $status ($code) to $name and writes nothing', async (c) => {
    const { res, objectsBefore, itemsBefore } = await tally.send(() =>
      stack.post(c.body, {
        raw: c.raw ?? JSON.stringify(c.body),
        headers: c.contentType ? { 'content-type': c.contentType } : {},
      }),
    );
    expect(res.status).toBe(c.status);
    expect(res.body.error).toBe(c.code);
    expect(typeof res.body.message).toBe('string');
    expect(String(res.body.message).length).toBeGreaterThan(10);
    expect(await stack.objectKeys()).toEqual(objectsBefore);
    expect(await stack.itemKeys()).toEqual(itemsBefore);
  });

  it('recorded every hostile case', async () => {
    expect(tally.runs).toBe(cases.length);
    recordReliability({
      fault: `${cases.length} hostile or malformed submissions (traversal, NUL, look-alikes, 10 kB ids, wrong types, __proto__, junk, bad JSON, over 1 MiB)`,
      runs: tally.runs,
      outcome: tally.outcome(),
      data_lost: 0,
      duplicates: 0,
      locks_leaked: (await stack.itemKeys()).filter((k) => k.startsWith('LOCK#')).length,
    });
  });

  it("accepts the old clients' CJK-as-\\uXXXX body of 50,000 characters (about 300 kB)", async () => {
    const raw = JSON.stringify({ ...ok, creator_id: 'cjk', source_text: '字'.repeat(50_000) }).replace(/字/g, '\\u5b57');
    expect(raw.length).toBeGreaterThan(300_000);
    stack.controls.closeGate('Story');
    const res = await stack.post(undefined, { raw });
    expect(res.status).toBe(202);
    // Cancel it through a stop: this test is about the door, not the narration of 50k characters.
    const record = await stack.getTask(res.body.task_id as string);
    const { StopExecutionCommand } = await import('@aws-sdk/client-sfn');
    await stack.runtime.sfn.send(new StopExecutionCommand({ executionArn: record.execution_arn }));
    stack.controls.openGate('Story');
    expect((await stack.finished(record.task_id)).status).toBe('FAILED');
  });

  it.each([
    ['traversal', '/api/pipeline/sources/..%2f..%2fx/v1/source.txt'],
    ['dots', '/api/pipeline/sources/c1/%2e%2e/source.txt'],
    ['backslash', '/api/pipeline/sources/c1/a%5cb/source.txt'],
  ])('refuses a source upload with %s in a path id and stores nothing', async (_name, path) => {
    const objectsBefore = await stack.objectKeys();
    const res = await fetch(`${stack.apiUrl}${path}`, { method: 'PUT', headers: { 'content-type': 'text/plain' }, body: 'x' });
    expect([400, 404]).toContain(res.status);
    expect(((await res.json()) as { message: string }).message.length).toBeGreaterThan(10);
    expect(await stack.objectKeys()).toEqual(objectsBefore);
  });

  it.each([
    ['a task id that is not a UUID', '/api/pipeline/tasks/..%2f..%2fLOCK'],
    ['traversal in an artifact name', '/api/pipeline/tasks/00000000-0000-7000-8000-000000000000/artifacts/..%2f..%2fsources%2fx'],
  ])('answers 4xx JSON for %s', async (_name, path) => {
    const res = await fetch(`${stack.apiUrl}${path}`);
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(res.headers.get('content-type')).toContain('application/json');
  });
});
