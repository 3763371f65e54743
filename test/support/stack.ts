import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { startEmbeddedStack, type EmbeddedStack, type EmbeddedStackOptions } from '../../infra/embedded/embedded-stack.js';
import { listKeys } from '../../shared/artifacts.js';
import { setStdoutLogging } from '../../shared/logger.js';
import type { TaskRecord } from '../../shared/task-record.js';
import { recordCallsOfRuntime } from './aws-call-recorder.js';

export interface TestStack extends EmbeddedStack {
  dataDir: string;
  post(body: unknown, init?: { headers?: Record<string, string>; raw?: string }): Promise<{ status: number; body: Record<string, unknown> }>;
  getTask(taskId: string): Promise<TaskRecord & { artifacts: Array<{ name: string; key: string; size: number; sha256?: string }> }>;
  /** waits for the execution to end, then returns the record */
  finished(taskId: string): Promise<TaskRecord & { artifacts: Array<{ name: string; key: string; size: number; sha256?: string }> }>;
  putSource(creatorId: string, videoId: string, text: string): Promise<void>;
  /** every object key in the bucket */
  objectKeys(): Promise<string[]>;
  /** every item key in the table */
  itemKeys(): Promise<string[]>;
  close(): Promise<void>;
}

/** Starts an embedded stack on a fresh data dir with random ports and test controls on. */
export async function startTestStack(options: Partial<EmbeddedStackOptions> = {}): Promise<TestStack> {
  setStdoutLogging(process.env.TEST_LOGS === '1');
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'reel-test-'));
  const stack = await startEmbeddedStack({ port: 0, testControls: true, exportPollSeconds: 2, ...options, dataDir });
  // Every AWS call a handler makes is checked against its role after the file (test/support/iam-check-setup.ts).
  recordCallsOfRuntime(stack.runtime);
  const api = `${stack.apiUrl}/api/pipeline`;
  const getTask = async (taskId: string) => {
    const res = await fetch(`${api}/tasks/${taskId}`);
    if (res.status !== 200) throw new Error(`GET task ${taskId} answered ${res.status}: ${await res.text()}`);
    return (await res.json()) as Awaited<ReturnType<TestStack['getTask']>>;
  };
  return {
    ...stack,
    dataDir,
    async post(body, init = {}) {
      const res = await fetch(`${api}/run`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...init.headers },
        body: init.raw ?? JSON.stringify(body),
      });
      const text = await res.text();
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(text) as Record<string, unknown>;
      } catch {
        parsed = { unparsed: text };
      }
      return { status: res.status, body: parsed };
    },
    getTask,
    async finished(taskId) {
      await stack.settled(taskId);
      return getTask(taskId);
    },
    async putSource(creatorId, videoId, text) {
      const res = await fetch(`${api}/sources/${creatorId}/${videoId}/source.txt`, {
        method: 'PUT',
        headers: { 'content-type': 'text/plain; charset=utf-8' },
        body: text,
      });
      if (res.status !== 201) throw new Error(`PUT source answered ${res.status}: ${await res.text()}`);
    },
    async objectKeys() {
      return (await listKeys(stack.runtime, '')).map((o) => o.key).sort();
    },
    async itemKeys() {
      const out = await stack.runtime.ddb.send(new ScanCommand({ TableName: stack.runtime.settings.tableName, ProjectionExpression: 'pk' }));
      return (out.Items ?? []).map((i) => String(i.pk)).sort();
    },
    async close() {
      stack.controls.openAll();
      await stack.stop();
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
