import { randomUUID } from 'node:crypto';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, describe, expect, it } from 'vitest';
import type { ExportOutcome } from '../../shared/export/export-worker.js';
import type { Exporter } from '../../shared/export/exporter.js';
import { addLogSink } from '../../shared/logger.js';
import { EXPORT_MESSAGE_GROUP } from '../../shared/state-machine.js';
import { startTestStack, type TestStack } from '../support/stack.js';

/**
 * A task token lets whoever holds it finish the task (SendTaskSuccess has no resource-level
 * IAM), so none may reach a log line — ours or the emulated services'. One embedded stack runs a
 * real export, a failing export, a stale-token report (a redelivered copy of a message whose
 * token was already used) and malformed messages on the export queue and its dead-letter queue,
 * while every line written is collected: the logger's sink, the console, stdout and stderr.
 */
const lines: string[] = [];
const removeSink = addLogSink((line) => lines.push(JSON.stringify(line)));
const restoreConsole: Array<() => void> = [];
for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
  // eslint-disable-next-line @typescript-eslint/unbound-method -- saved to be put back as it was
  const original = console[method];
  console[method] = (...args: unknown[]) => {
    lines.push(args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' '));
  };
  restoreConsole.push(() => (console[method] = original));
}
// stdout too: metric lines (EMF) are written there directly, not through the logger.
const originalWrites = { stdout: process.stdout.write.bind(process.stdout), stderr: process.stderr.write.bind(process.stderr) };
for (const stream of ['stdout', 'stderr'] as const) {
  process[stream].write = (chunk: string | Uint8Array, ...rest: unknown[]) => {
    lines.push(String(chunk));
    return originalWrites[stream](chunk, ...(rest as []));
  };
}

let stack: TestStack | undefined;
afterAll(async () => {
  await stack?.close();
  removeSink();
  for (const restore of restoreConsole) restore();
  process.stdout.write = originalWrites.stdout;
  process.stderr.write = originalWrites.stderr;
});

/** Resolves when `check` holds for an outcome the export agent reports. */
const outcomeWaiters: Array<{ check: (o: ExportOutcome) => boolean; resolve: () => void }> = [];
const nextOutcome = (wanted: ExportOutcome) => new Promise<void>((resolve) => outcomeWaiters.push({ check: (o) => o === wanted, resolve }));
/** Resolves when a log line contains `text`. */
const lineWaiters: Array<{ text: string; resolve: () => void }> = [];
const removeLineWatch = addLogSink((line) => {
  for (const w of [...lineWaiters]) {
    if (line.message.includes(w.text)) {
      lineWaiters.splice(lineWaiters.indexOf(w), 1);
      w.resolve();
    }
  }
});
const nextLine = (text: string) => new Promise<void>((resolve) => lineWaiters.push({ text, resolve }));

/** Every 24-character stretch of a token, so a cut-off token (a body sliced to 500 characters) is caught too. */
function tokenPieces(token: string): string[] {
  const pieces: string[] = [];
  for (let i = 0; i + 24 <= token.length; i += 12) pieces.push(token.slice(i, i + 24));
  return pieces;
}

describe('task tokens in logs', () => {
  it('never appear in any log line: a real export, a failing export, a stale report, malformed messages', async () => {
    // prepare
    const tokens = new Map<string, string>();
    let failingTask: string | undefined;
    stack = await startTestStack({
      onExportOutcome: (outcome, body) => {
        try {
          const m = JSON.parse(body) as { task_id?: string; task_token?: string };
          if (m.task_token && m.task_id) tokens.set(m.task_token, m.task_id);
        } catch {
          // the malformed test messages
        }
        for (const w of outcomeWaiters.filter((x) => x.check(outcome))) {
          outcomeWaiters.splice(outcomeWaiters.indexOf(w), 1);
          w.resolve();
        }
      },
      // The failing task's exporter says the render failed (for good), without rendering.
      wrapExporter: (inner: Exporter): Exporter => ({
        submit: (id, job, signal) => (id === failingTask ? Promise.resolve() : inner.submit(id, job, signal)),
        status: (id, wait, signal) =>
          id === failingTask
            ? Promise.resolve({ task_id: id, state: 'failed', error: 'ffmpeg exited with code 1 (injected)', retryable: false })
            : inner.status(id, wait, signal),
        video: (id, signal) => inner.video(id, signal),
        cancel: (id) => inner.cancel(id),
      }),
    });
    const s = stack;
    const send = (queueUrl: string, body: string) =>
      s.runtime.sqs.send(
        new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body, MessageGroupId: EXPORT_MESSAGE_GROUP, MessageDeduplicationId: randomUUID() }),
      );

    // act: a failing export
    const failing = await s.post({ creator_id: 'tokens', video_id: 'failing', source_text: 'This export fails.' });
    failingTask = failing.body.task_id as string;
    const failed = await s.finished(failingTask);

    // act: a real export, held before Finalize so its message can come back with a used token
    s.controls.closeGate('Finalize');
    const exported = nextOutcome('succeeded');
    const ok = await s.post({ creator_id: 'tokens', video_id: 'ok', source_text: 'This export works.' });
    const okTask = ok.body.task_id as string;
    await Promise.all([exported, s.controls.waitForArrivals('Finalize', 1)]);
    const [usedToken] = [...tokens].find(([, taskId]) => taskId === okTask) ?? [];
    expect(usedToken, 'the export message of the held task').toBeDefined();
    const okMessage = { task_id: okTask, creator_id: 'tokens', video_id: 'ok', draft_key: `tasks/${okTask}/draft.json`, task_token: usedToken };

    const staleReported = nextLine('late or duplicate export report dropped');
    await send(s.exportQueueUrl, JSON.stringify(okMessage));
    await Promise.all([staleReported, nextOutcome('reused_existing_video')]);

    const malformed = nextOutcome('malformed');
    await send(s.exportQueueUrl, JSON.stringify({ task_id: okTask, task_token: usedToken }));
    await malformed;

    const deadLettered = nextLine('malformed dead-lettered export message');
    await send(s.exportDlqUrl, JSON.stringify(okMessage).slice(0, 300));
    await deadLettered;

    s.controls.openGate('Finalize');
    const succeeded = await s.finished(okTask);
    removeLineWatch();

    // assess: the scenario ran as described…
    expect(failed.status).toBe('FAILED');
    expect(succeeded.status).toBe('SUCCEEDED');
    expect(tokens.size).toBeGreaterThanOrEqual(2);
    for (const text of [
      'export failed',
      'task failed',
      'export succeeded',
      'late or duplicate export report dropped',
      'malformed export message deleted',
      'malformed dead-lettered export message',
    ]) {
      expect(
        lines.some((l) => l.includes(text)),
        text,
      ).toBe(true);
    }
    // …and no line holds any piece of any token issued.
    const leaks = lines.flatMap((line) =>
      [...tokens].filter(([token]) => tokenPieces(token).some((piece) => line.includes(piece))).map(([, taskId]) => `${taskId}: ${line.slice(0, 200)}`),
    );
    expect(leaks).toEqual([]);
  }, 120_000);
});
