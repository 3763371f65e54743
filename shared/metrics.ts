import { isStdoutLogging } from './logger.js';
import { METRIC_NAMESPACE, type MetricName } from './resources/metrics.js';

/**
 * Numbers for the ops dashboard, as CloudWatch Embedded Metric Format lines on stdout: on
 * Lambda, CloudWatch turns each line into a metric in namespace `ReelPipeline`; elsewhere they
 * are ordinary JSON log lines. The namespace and names are the resource model's
 * (shared/resources/metrics.ts), which the dashboard in infra/cdk plots.
 */

export function emitMetric(
  name: MetricName,
  value: number,
  unit: 'Count' | 'Milliseconds',
  dimensions: Record<string, string> = {},
  fields: Record<string, unknown> = {},
): void {
  if (!isStdoutLogging()) return;
  const line = {
    _aws: {
      Timestamp: Date.now(),
      CloudWatchMetrics: [{ Namespace: METRIC_NAMESPACE, Dimensions: [Object.keys(dimensions)], Metrics: [{ Name: name, Unit: unit }] }],
    },
    ...fields,
    ...dimensions,
    [name]: value,
  };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}
