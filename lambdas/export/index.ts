import { tmpdir } from 'node:os';
import path from 'node:path';
import { BuiltinExporter } from '../../shared/export/builtin-exporter.js';
import { exportAuthTokenSource } from '../../shared/export/export-auth.js';
import type { Exporter } from '../../shared/export/exporter.js';
import { HttpExporter } from '../../shared/export/http-exporter.js';
import { withLambdaContext } from '../../shared/logger.js';
import { sharedRuntime } from '../../shared/runtime.js';
import { requireSettings } from '../../shared/settings.js';
import { createExportWorkerHandler } from './handler.js';

const rt = sharedRuntime();
requireSettings(rt.settings, ['tableName', 'bucketName', 'exportQueueUrl']);

// EXPORTER: `builtin` renders in this function with the bundled ffmpeg; `http` drives EXPORT_VIDEO_URL.
const kind = rt.settings.exporter;
if (kind === 'http') requireSettings(rt.settings, ['exportVideoUrl']);
const exporter: Exporter =
  kind === 'builtin'
    ? new BuiltinExporter({ workRoot: path.join(tmpdir(), 'exports') })
    : // The exporter's shared secret: EXPORT_AUTH_SECRET_ARN on AWS, read at cold start.
      new HttpExporter(rt.settings.exportVideoUrl, exportAuthTokenSource(rt.settings));

export const handler = withLambdaContext(
  createExportWorkerHandler({
    rt,
    exporter,
    queueUrl: rt.settings.exportQueueUrl,
    visibilitySeconds: rt.settings.exportVisibilitySeconds,
    pollSeconds: rt.settings.exportPollSeconds,
    deadlineMarginMs: 30_000,
    retryDelaySeconds: 10,
    // An in-process render cannot outlive the invocation; a remote one goes on, its message is
    // requeued, and the next delivery picks it up again (a PUT of the same task is the same job).
    cancelAbandonedJobs: kind === 'builtin',
  }),
);
