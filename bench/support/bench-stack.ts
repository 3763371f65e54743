/**
 * An embedded stack for one benchmark part: a fresh data directory, random ports on 127.0.0.1,
 * the pipeline's own log lines kept off the console, and small helpers over the HTTP API and
 * the exporter's `/stats`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedStack, type EmbeddedStack, type EmbeddedStackOptions } from '../../infra/embedded/embedded-stack.js';
import type { ExportServiceStats } from '../../infra/embedded/export-service.js';
import { setStdoutLogging } from '../../shared/logger.js';
import type { TaskRecord } from '../../shared/task-record.js';

export type TaskView = TaskRecord & { artifacts?: Array<{ name: string; size: number }> };

export interface BenchStack extends EmbeddedStack {
  dataDir: string;
  /** POST /api/pipeline/run; `ms` is the time until the whole answer was read */
  submit(body: Record<string, unknown>): Promise<{ status: number; body: Record<string, unknown>; ms: number; sentAt: number }>;
  task(taskId: string): Promise<TaskView>;
  /** the exporter's own accounting, over its HTTP API */
  exporterStats(): Promise<ExportServiceStats>;
  close(): Promise<void>;
}

export async function startBenchStack(options: Partial<EmbeddedStackOptions> = {}): Promise<BenchStack> {
  setStdoutLogging(process.env.BENCH_LOGS === '1');
  const dataDir = mkdtempSync(join(tmpdir(), 'reel-bench-'));
  // Warm like `npm start`: the solo part's p50 is a warm engine too.
  const stack = await startEmbeddedStack({ port: 0, host: '127.0.0.1', warmEngines: true, ...options, dataDir });
  await stack.enginesReady;
  const api = `${stack.apiUrl}/api/pipeline`;
  return {
    ...stack,
    dataDir,
    async submit(body) {
      const sentAt = Date.now();
      const started = performance.now();
      const res = await fetch(`${api}/run`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const text = await res.text();
      const ms = performance.now() - started;
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(text) as Record<string, unknown>;
      } catch {
        parsed = { unparsed: text };
      }
      return { status: res.status, body: parsed, ms, sentAt };
    },
    async task(taskId) {
      const res = await fetch(`${api}/tasks/${taskId}`);
      if (res.status !== 200) throw new Error(`GET task ${taskId} answered ${res.status}: ${await res.text()}`);
      return (await res.json()) as TaskView;
    },
    async exporterStats() {
      const res = await fetch(`${stack.exportServiceUrl}/stats`);
      if (res.status !== 200) throw new Error(`GET /stats of the exporter answered ${res.status}`);
      return (await res.json()) as ExportServiceStats;
    },
    async close() {
      // Tasks still held at a gate are aborted with their executions, never released into work.
      await stack.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export const ms = (iso: string | undefined | null): number | null => (iso ? Date.parse(iso) : null);
