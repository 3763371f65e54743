import { createLogger } from '../logger.js';
import { parseMessage, processExportMessage, type ExportOutcome, type ExportWorkerDeps } from './export-worker.js';
import { NextExportPlanner } from './next-export.js';
import { pollQueue } from './queue-poller.js';

export interface ExportAgentOptions extends ExportWorkerDeps {
  waitTimeSeconds?: number;
  onOutcome?: (outcome: ExportOutcome, messageBody: string) => void;
  /**
   * Prepare the next job while one renders and hand it to the exporter before its message
   * arrives (next-export.ts): `before-store` as soon as the render ends (the exporter must keep a
   * finished video while it renders the next), `after-store` once the video is stored, `off`
   * never. Default `after-store`.
   */
  nextJob?: 'before-store' | 'after-store' | 'off';
}

/**
 * The export agent: polls the FIFO queue from any host (typically next to the exporter, which
 * then needs no inbound network access), holds one message at a time and runs its job, and
 * prepares the next job meanwhile (see next-export.ts).
 * Resolves when `signal` aborts; a job in progress is abandoned and its message reappears after
 * the visibility timeout.
 */
export async function runExportAgent(deps: ExportAgentOptions, signal: AbortSignal): Promise<void> {
  const log = createLogger({ stage: 'export-agent' });
  const mode = deps.nextJob ?? 'after-store';
  const planner = mode === 'off' ? undefined : new NextExportPlanner({ rt: deps.rt, exporter: deps.exporter, log, startBeforeStore: mode === 'before-store' });
  log.info('export agent polling', { queue_url: deps.queueUrl, visibility_seconds: deps.visibilitySeconds, next_job: mode });
  await pollQueue({
    rt: deps.rt,
    receive: { QueueUrl: deps.queueUrl, WaitTimeSeconds: deps.waitTimeSeconds ?? 20, VisibilityTimeout: deps.visibilitySeconds },
    signal,
    log,
    name: 'export agent loop',
    handle: async (m) => {
      await planner?.beforeMessage(parseMessage(m.body));
      const outcome = await processExportMessage({ ...deps, next: planner }, { body: m.body, receiptHandle: m.receiptHandle }, signal);
      await planner?.afterMessage(outcome);
      deps.onOutcome?.(outcome, m.body);
    },
    onEmpty: planner ? () => planner.idle() : undefined,
  });
  log.info('export agent stopped');
}
