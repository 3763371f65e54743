import { afterEach, describe, expect, it } from 'vitest';
import { REDACTED, addLogSink, createLogger, setStdoutLogging, type LogLine } from '../../shared/logger.js';

/**
 * The logger's safety net under the call sites: whatever a line is given, a task token (it lets
 * its reader finish the task) and the exporter's bearer token (it opens the export service)
 * never come out of it.
 */
const TOKEN = `AQ${'x7+/Qz'.repeat(100)}==`;
const SECRET = 'c2VjcmV0LXRva2VuLW9mLXRoZS1leHBvcnRlcg';

let remove: (() => void) | undefined;
afterEach(() => remove?.());

function capture(): LogLine[] {
  setStdoutLogging(false);
  const lines: LogLine[] = [];
  remove = addLogSink((line) => lines.push(line));
  return lines;
}

describe('the logger', () => {
  it('redacts task tokens and bearer secrets in fields, nested objects, errors, messages and quoted bodies', () => {
    const lines = capture();
    const log = createLogger({ stage: 'test' });

    log.info('report', { task_token: TOKEN, request: { input: { taskToken: TOKEN }, headers: { Authorization: `Bearer ${SECRET}` } } });
    log.error('malformed', { body: JSON.stringify({ task_id: 't1', task_token: TOKEN }).slice(0, 300) });
    log.warn('quoted twice', { raw: JSON.stringify({ body: JSON.stringify({ task_token: TOKEN }) }) });
    log.error('send failed', { error: new Error(`SendTaskSuccess failed for taskToken=${TOKEN}`) });
    log.info(`calling the exporter with Bearer ${SECRET}`);

    const text = JSON.stringify(lines);
    expect(lines).toHaveLength(5);
    expect(text).not.toContain(TOKEN.slice(0, 24));
    expect(text).not.toContain(TOKEN.slice(-24));
    expect(text).not.toContain(SECRET);
    expect(lines[0]).toMatchObject({ task_token: REDACTED, request: { input: { taskToken: REDACTED }, headers: { Authorization: REDACTED } } });
    expect(lines[1].body).toBe(`{"task_id":"t1","task_token":"${REDACTED}`);
    expect((lines[3].error as { message: string }).message).toBe(`SendTaskSuccess failed for taskToken=${REDACTED}`);
    expect(lines[4].message).toBe(`calling the exporter with Bearer ${REDACTED}`);
  });

  it('leaves every other value as it was', () => {
    const lines = capture();
    const when = new Date('2026-01-02T03:04:05.000Z');

    createLogger({ task_id: 't1' }).info('export succeeded', {
      video_bytes: 123,
      at: when,
      stages: ['draft', 'export'],
      note: 'token bucket refilled',
      draft_key: 'tasks/t1/draft.json',
    });

    expect(JSON.parse(JSON.stringify(lines[0]))).toMatchObject({
      task_id: 't1',
      message: 'export succeeded',
      video_bytes: 123,
      at: '2026-01-02T03:04:05.000Z',
      stages: ['draft', 'export'],
      note: 'token bucket refilled',
      draft_key: 'tasks/t1/draft.json',
    });
  });
});
