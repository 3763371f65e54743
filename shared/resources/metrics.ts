/**
 * The pipeline's own CloudWatch metrics: the namespace and the names the handlers emit
 * (shared/metrics.ts) and the dashboard and alarms plot (infra/cdk/constructs/observability.ts).
 */

/** Namespace of every custom metric (CloudWatch Embedded Metric Format log lines). */
export const METRIC_NAMESPACE = 'ReelPipeline';

/** The custom metrics, by what they count. */
export const CUSTOM_METRICS = {
  tasksSubmitted: 'TasksSubmitted',
  duplicatesRejected: 'DuplicatesRejected',
  rateLimitWaits: 'RateLimitWaits',
  /** dimension `Stage` = one of STAGES (shared/task-record.ts) */
  stageDurationMs: 'StageDurationMs',
  /** the DLQ consumer gave up failing a dead letter's task (it ends at its Export timeout) */
  deadLettersUnresolved: 'DeadLettersUnresolved',
} as const;

/** A custom metric's name. */
export type MetricName = (typeof CUSTOM_METRICS)[keyof typeof CUSTOM_METRICS];
