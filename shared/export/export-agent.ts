import { createLogger } from '../logger.js';
import { processExportMessage, type ExportOutcome, type ExportWorkerDeps } from './export-worker.js';
import { pollQueue } from './queue-poller.js';

/**
 * The export agent: polls the FIFO queue from any host (typically next to the exporter, which
 * then needs no inbound network access), holds one message at a time and runs its job.
 * Resolves when `signal` aborts; a job in progress is abandoned and its message reappears after
 * the visibility timeout.
 */
export async function runExportAgent(
  deps: ExportWorkerDeps & { waitTimeSeconds?: number; onOutcome?: (outcome: ExportOutcome, messageBody: string) => void },
  signal: AbortSignal,
): Promise<void> {
  const log = createLogger({ stage: 'export-agent' });
  log.info('export agent polling', { queue_url: deps.queueUrl, visibility_seconds: deps.visibilitySeconds });
  await pollQueue({
    rt: deps.rt,
    receive: { QueueUrl: deps.queueUrl, WaitTimeSeconds: deps.waitTimeSeconds ?? 20, VisibilityTimeout: deps.visibilitySeconds },
    signal,
    log,
    name: 'export agent loop',
    handle: async (m) => {
      const outcome = await processExportMessage(deps, { body: m.body, receiptHandle: m.receiptHandle }, signal);
      deps.onOutcome?.(outcome, m.body);
    },
  });
  log.info('export agent stopped');
}
