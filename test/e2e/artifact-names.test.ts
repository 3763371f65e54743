import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { putObject } from '../../shared/artifacts.js';
import { taskArtifactKey } from '../../shared/keys.js';
import { startTestStack, type TestStack } from '../support/stack.js';

/**
 * The artifacts route serves Unicode names (the creator's material files inside the draft
 * folder), percent-encoded in the URL, and refuses anything that could leave the task's folder.
 * Paths are sent byte for byte (node:http), so `%2e%2e` and `%00` reach the API as a client sent them.
 */
let stack: TestStack;
let taskId: string;
const MATERIAL = 'draft/草稿 1/materials/01-山.jpg';
const SECRET = 'sources/c-art/v-art/source.txt';

beforeAll(async () => {
  stack = await startTestStack();
  // A task held before its story: the artifacts below are written as the Draft stage would write them.
  stack.controls.closeGate('Story');
  const res = await stack.post({ creator_id: 'c-art', video_id: 'v-art', export_video: false, source_text: 'A line.' });
  expect(res.status).toBe(202);
  taskId = res.body.task_id as string;
  await putObject(stack.runtime, taskArtifactKey(taskId, MATERIAL), 'jpeg bytes', 'image/jpeg');
  await putObject(stack.runtime, SECRET, 'not an artifact', 'text/plain');
}, 60_000);
afterAll(async () => {
  await stack?.close();
});

function get(path: string): Promise<{ status: number; type: string; text: string }> {
  const target = new URL(stack.apiUrl);
  return new Promise((resolve, reject) => {
    const req = request({ host: target.hostname, port: target.port, method: 'GET', path }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

const artifacts = () => `/api/pipeline/tasks/${taskId}/artifacts/`;
const encoded = (name: string) => name.split('/').map(encodeURIComponent).join('/');

describe('artifact names', () => {
  it('serves a material with a Chinese name and a space, percent-encoded, with its type', async () => {
    const res = await get(artifacts() + encoded(MATERIAL));
    expect(res.status).toBe(200);
    expect(res.type).toBe('image/jpeg');
    expect(res.text).toBe('jpeg bytes');
  });

  it('finds the same material under its decomposed (NFD) spelling', async () => {
    const nfd = 'draft/草稿 1/materials/01-é.jpg'.normalize('NFD');
    await putObject(stack.runtime, taskArtifactKey(taskId, 'draft/草稿 1/materials/01-é.jpg'.normalize('NFC')), 'accented', 'image/jpeg');
    const res = await get(artifacts() + encoded(nfd));
    expect(res.status).toBe(200);
    expect(res.text).toBe('accented');
  });

  it('lists each artifact with a URL that fetches it', async () => {
    const task = await stack.getTask(taskId);
    const listed = (task.artifacts as unknown as Array<{ name: string; url: string }>).find((a) => a.name === MATERIAL);
    expect(listed?.url).toBe(`${artifacts()}${encoded(MATERIAL)}`);
    const res = await fetch(`${stack.apiUrl}${listed?.url}`);
    expect(await res.text()).toBe('jpeg bytes');
  });

  it.each([
    ['encoded slashes', '..%2f..%2f..%2fsources%2fc-art%2fv-art%2fsource.txt'],
    ['encoded dots and slash in one segment', '%2e%2e%2fsource.txt'],
    ['encoded backslashes', '..%5c..%5csources%5cx'],
    ['a dot-dot segment after a name', 'draft/%2e%2e%2f%2e%2e%2fsource.txt'],
    ['NUL', 'source.txt%00.jpg'],
    ['an absolute path (double slash)', '/etc/passwd'],
    ['an empty segment', 'draft//x.json'],
    ['a look-alike slash (U+2215)', `..${encodeURIComponent('\u2215')}source.txt`],
    ['a fullwidth slash (U+FF0F)', `..${encodeURIComponent('\uff0f')}source.txt`],
    ['a broken escape', 'draft/%E5%B1.jpg'],
    ['a hidden name', 'draft/.env'],
    ['a bidi override', `x${encodeURIComponent('\u202e')}gpj.txt`],
    ['a name of 201 characters', encodeURIComponent('山'.repeat(197) + '.jpg')],
  ])('refuses %s with 400 invalid_artifact_name', async (_name, tail) => {
    const res = await get(artifacts() + tail);
    expect(res.status).toBe(400);
    expect(res.type).toContain('application/json');
    const body = JSON.parse(res.text) as { error: string; message: string };
    expect(body.error).toBe('invalid_artifact_name');
    expect(body.message.length).toBeGreaterThan(20);
    expect(res.text).not.toContain('not an artifact');
  });

  it.each([
    ['plain dot-dot segments', '../../../sources/c-art/v-art/source.txt'],
    ['encoded dot-dot segments', '%2e%2e/%2e%2e/%2e%2e/sources/c-art/v-art/source.txt'],
    ['raw backslashes', 'draft\\..\\..\\..\\sources\\c-art\\v-art\\source.txt'],
  ])('never serves what %s point at (normalized or refused before the route)', async (_name, tail) => {
    const res = await get(artifacts() + tail);
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(res.text).not.toContain('not an artifact');
  });
});
