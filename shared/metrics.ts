import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { isStdoutLogging } from './logger.js';
import { METRIC_NAMESPACE, type MetricName } from './resources/metrics.js';

export { METRIC_NAMESPACE };

/**
 * Numbers for the ops dashboard, as CloudWatch Embedded Metric Format lines on stdout, written
 * by Powertools for AWS Lambda's Metrics: on Lambda, CloudWatch turns each line into a metric in
 * namespace `ReelPipeline`; elsewhere they are ordinary JSON log lines. The namespace and names are
 * the resource model's (shared/resources/metrics.ts), which the dashboard in infra/cdk plots.
 */

const metrics = new Metrics({ namespace: METRIC_NAMESPACE });

/**
 * Writes one metric line now, with exactly `dimensions` as its dimension set (no dimensions: the
 * metric without any) and `fields` as searchable properties (task id, creator, reason).
 *
 * @example
 * emitMetric('StageDurationMs', 1520, 'Milliseconds', { Stage: 'draft' }, { task_id: 't1' });
 */
export function emitMetric(
  name: MetricName,
  value: number,
  unit: 'Count' | 'Milliseconds',
  dimensions: Record<string, string> = {},
  fields: Record<string, unknown> = {},
): void {
  if (!isStdoutLogging()) return;
  // A single metric is published as soon as it is added: each call is its own line, as the
  // stages emit them one at a time and no handler flushes a buffer at its end. Powertools adds a
  // `service` dimension by default; the dashboard's metrics have none, so it is cleared.
  const line = metrics.singleMetric();
  line.clearDefaultDimensions();
  line.addDimensions(dimensions);
  for (const [key, v] of Object.entries(fields)) if (v !== undefined) line.addMetadata(key, typeof v === 'string' ? v : JSON.stringify(v));
  line.addMetric(name, unit === 'Count' ? MetricUnit.Count : MetricUnit.Milliseconds, value);
}
