import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { createLogger } from '../logger.js';
import { processExportMessage, type ExportOutcome, type ExportWorkerDeps } from './export-worker.js';

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
  while (!signal.aborted) {
    try {
      const out = await deps.rt.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: deps.queueUrl,
          MaxNumberOfMessages: 1,
          WaitTimeSeconds: deps.waitTimeSeconds ?? 20,
          VisibilityTimeout: deps.visibilitySeconds,
        }),
        { abortSignal: signal },
      );
      for (const m of out.Messages ?? []) {
        if (!m.Body || !m.ReceiptHandle) continue;
        const outcome = await processExportMessage(deps, { body: m.Body, receiptHandle: m.ReceiptHandle }, signal);
        deps.onOutcome?.(outcome, m.Body);
      }
    } catch (error: unknown) {
      if (signal.aborted) break;
      log.error('export agent loop error; retrying in 1 s', { error });
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  log.info('export agent stopped');
}
