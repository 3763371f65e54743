import { runExportAgent } from '../../shared/export/export-agent.js';
import { exportAuthTokenSource } from '../../shared/export/export-auth.js';
import { HttpExporter } from '../../shared/export/http-exporter.js';
import { createLogger } from '../../shared/logger.js';
import { createRuntime } from '../../shared/runtime.js';
import { requireSettings } from '../../shared/settings.js';

/**
 * `npm run export-agent`: the export worker as a long-running process on any host — typically
 * the exporter's own machine, which then needs no inbound network access. It polls the FIFO
 * queue, holds one message at a time, extends its visibility while the job runs, and drives the
 * exporter at EXPORT_VIDEO_URL with its shared secret EXPORT_AUTH_TOKEN. Settings come from the environment (docs/settings.md); against the
 * embedded stack: `set -a; . .data/export-agent.env; set +a; EXPORT_WORKER=off` for the stack.
 */
const log = createLogger({ stage: 'export-agent' });
const rt = createRuntime();
requireSettings(rt.settings, ['tableName', 'bucketName', 'exportQueueUrl', 'exportVideoUrl']);
// EXPORT_AUTH_TOKEN (or EXPORT_AUTH_SECRET_ARN): fails here, at start-up, when neither is set.
const auth = exportAuthTokenSource(rt.settings);
const abort = new AbortController();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    log.info('stopping: the message in hand, if any, returns to the queue after its lease (EXPORT_VISIBILITY_SECONDS)', { signal });
    abort.abort();
  });
}
await runExportAgent(
  {
    rt,
    exporter: new HttpExporter(rt.settings.exportVideoUrl, auth),
    queueUrl: rt.settings.exportQueueUrl,
    visibilitySeconds: rt.settings.exportVisibilitySeconds,
    pollSeconds: rt.settings.exportPollSeconds,
  },
  abort.signal,
);
process.exit(0);
