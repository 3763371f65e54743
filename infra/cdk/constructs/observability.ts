/**
 * Observability: the dashboard (submissions, executions, API, stage durations, the export queue,
 * dead letters, rate-limit waits, Lambda errors, throttles and durations) and the alarms, which
 * notify `alarmTopicArn` when one is set. The pipeline's own metrics are the resource model's
 * (shared/resources/metrics.ts), emitted by the handlers as EMF log lines.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import type * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { CUSTOM_METRICS, METRIC_NAMESPACE } from '../../../shared/resources/metrics.js';
import { STAGES } from '../../../shared/task-record.js';
import type { PipelineFunction, PipelineFunctionName } from '../pipeline-function.js';
import type { PipelineSettings } from '../pipeline-settings.js';
import { StackRoom } from '../stable-logical-ids.js';
import type { PipelineQueues } from './queues.js';

export type PipelineAlarmName =
  'exportDeadLetters' | 'exportDeadLettersUnresolved' | 'failedExecutions' | 'exportQueueAge' | 'api5xx' | 'undeliveredEvents' | 'webhookDeadLetters';

export interface ObservabilityProps {
  settings: PipelineSettings;
  queues: PipelineQueues;
  stateMachine: sfn.StateMachine;
  api: apigw.RestApi;
  /** plotted in this order (errors, throttles, duration per function) */
  functions: Partial<Record<PipelineFunctionName, PipelineFunction>>;
}

export class Observability extends StackRoom {
  readonly dashboard: cloudwatch.Dashboard;
  readonly alarms: Record<PipelineAlarmName, cloudwatch.Alarm>;

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    const { settings, queues, api } = props;
    const fiveMinutes = Duration.minutes(5);
    const custom = (metricName: string, statistic: string, dimensionsMap?: Record<string, string>, label?: string) =>
      new cloudwatch.Metric({ namespace: METRIC_NAMESPACE, metricName, statistic, dimensionsMap, period: fiveMinutes, label });
    const sm = props.stateMachine;
    const queueDepth = (q: sqs.Queue, label: string, id: string) =>
      new cloudwatch.MathExpression({
        expression: `${id}Visible + ${id}InFlight`,
        usingMetrics: {
          [`${id}Visible`]: q.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' }),
          [`${id}InFlight`]: q.metricApproximateNumberOfMessagesNotVisible({ period: Duration.minutes(1), statistic: 'Maximum' }),
        },
        label,
        period: Duration.minutes(1),
      });

    const actions = settings.alarmTopicArn ? [new cloudwatchActions.SnsAction(sns.Topic.fromTopicArn(this, 'AlarmTopic', settings.alarmTopicArn))] : [];
    const alarm = (id: string, props: cloudwatch.CreateAlarmOptions & { metric: cloudwatch.IMetric }) => {
      const a = new cloudwatch.Alarm(this, id, { ...props, treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING });
      for (const action of actions) a.addAlarmAction(action);
      return a;
    };
    this.alarms = {
      exportDeadLetters: alarm('ExportDeadLettersAlarm', {
        alarmDescription:
          'An export message reached the dead-letter queue: the worker crashed or timed out on it maxReceiveCount times (its task is failed by the DLQ consumer).',
        metric: queueDepth(queues.exportDeadLetterQueue, 'export DLQ depth', 'dlq'),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
      }),
      exportDeadLettersUnresolved: alarm('ExportDeadLettersUnresolvedAlarm', {
        alarmDescription:
          'The dead-letter consumer could not fail the task of a dead-lettered export message after its bounded tries (Step Functions refused or stayed unreachable) and let the message go: that task stays RUNNING until its Export timeout. Its log line names the task id and the reason.',
        metric: custom(CUSTOM_METRICS.deadLettersUnresolved, 'Sum'),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
      }),
      failedExecutions: alarm('FailedExecutionsAlarm', {
        alarmDescription: `At least ${settings.alarmFailedExecutions} pipeline executions failed or timed out in 5 minutes.`,
        metric: new cloudwatch.MathExpression({
          expression: 'failed + timedOut',
          usingMetrics: { failed: sm.metricFailed({ period: fiveMinutes }), timedOut: sm.metricTimedOut({ period: fiveMinutes }) },
          label: 'executions failed or timed out',
          period: fiveMinutes,
        }),
        threshold: settings.alarmFailedExecutions,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
      }),
      exportQueueAge: alarm('ExportQueueAgeAlarm', {
        alarmDescription: `The oldest export message has waited more than ${settings.alarmExportQueueAgeSeconds} s: the exporter is down, stuck or far behind.`,
        metric: queues.exportQueue.metricApproximateAgeOfOldestMessage({ period: fiveMinutes, statistic: 'Maximum' }),
        threshold: settings.alarmExportQueueAgeSeconds,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
      }),
      api5xx: alarm('Api5xxAlarm', {
        alarmDescription: `The API answered at least ${settings.alarmApi5xxErrors} 5xx in 5 minutes.`,
        metric: api.metricServerError({ period: fiveMinutes, statistic: 'Sum' }),
        threshold: settings.alarmApi5xxErrors,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
      }),
      undeliveredEvents: alarm('UndeliveredEventsAlarm', {
        alarmDescription:
          'An execution-status event or an inbox upload event could not be handled: a task may stay RUNNING or an inbox document unprocessed. Read the queue.',
        metric: queueDepth(queues.undeliveredEventsQueue, 'undelivered events', 'undelivered'),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
      }),
      webhookDeadLetters: alarm('WebhookDeadLettersAlarm', {
        alarmDescription:
          'A completion webhook message reached its dead-letter queue: the webhook function crashed on it 5 times (the attempt could not be recorded or the retry queued). Its receiver was not told; read the queue.',
        metric: queueDepth(queues.webhookDeadLetterQueue, 'webhook DLQ depth', 'webhookDlq'),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
      }),
    };

    const fns = Object.entries(props.functions) as Array<[PipelineFunctionName, PipelineFunction]>;
    const perFunction = (metric: (f: lambda.IFunction) => cloudwatch.Metric) => fns.map(([name, f]) => metric(f.fn).with({ label: name }));
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `${Stack.of(this).stackName}-pipeline`,
      defaultInterval: Duration.hours(6),
    });
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Submissions',
        left: [
          custom(CUSTOM_METRICS.tasksSubmitted, 'Sum', undefined, 'tasks submitted'),
          custom(CUSTOM_METRICS.duplicatesRejected, 'Sum', undefined, 'duplicates rejected (409)'),
        ],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Executions',
        left: [
          sm.metricStarted({ period: fiveMinutes, label: 'started' }),
          sm.metricSucceeded({ period: fiveMinutes, label: 'succeeded' }),
          sm.metricFailed({ period: fiveMinutes, label: 'failed' }),
          sm.metricTimedOut({ period: fiveMinutes, label: 'timed out' }),
          sm.metricAborted({ period: fiveMinutes, label: 'aborted (cancelled)' }),
        ],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'API',
        left: [
          api.metricCount({ period: fiveMinutes, label: 'requests' }),
          api.metricClientError({ period: fiveMinutes, label: '4xx' }),
          api.metricServerError({ period: fiveMinutes, label: '5xx' }),
        ],
        right: [api.metricLatency({ period: fiveMinutes, statistic: 'p90', label: 'latency p90 (ms)' })],
        width: 8,
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Stage duration, average (ms)',
        left: STAGES.map((stage) => custom(CUSTOM_METRICS.stageDurationMs, 'Average', { Stage: stage }, stage)),
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Stage duration, p90 (ms)',
        left: STAGES.map((stage) => custom(CUSTOM_METRICS.stageDurationMs, 'p90', { Stage: stage }, stage)),
        width: 12,
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Export queue',
        left: [
          queues.exportQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum', label: 'waiting' }),
          queues.exportQueue.metricApproximateNumberOfMessagesNotVisible({ period: Duration.minutes(1), statistic: 'Maximum', label: 'exporting' }),
        ],
        right: [queues.exportQueue.metricApproximateAgeOfOldestMessage({ period: Duration.minutes(1), statistic: 'Maximum', label: 'oldest message age (s)' })],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Dead letters',
        left: [
          queueDepth(queues.exportDeadLetterQueue, 'export DLQ depth', 'dlq'),
          queueDepth(queues.undeliveredEventsQueue, 'undelivered events', 'undelivered'),
        ],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Rate-limit waits',
        left: [custom(CUSTOM_METRICS.rateLimitWaits, 'Sum', undefined, 'waits for the story/TTS rate limiter')],
        width: 8,
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({ title: 'Lambda errors', left: perFunction((f) => f.metricErrors({ period: fiveMinutes })), width: 8 }),
      new cloudwatch.GraphWidget({ title: 'Lambda throttles', left: perFunction((f) => f.metricThrottles({ period: fiveMinutes })), width: 8 }),
      new cloudwatch.GraphWidget({
        title: 'Lambda duration p90 (ms)',
        left: perFunction((f) => f.metricDuration({ period: fiveMinutes, statistic: 'p90' })),
        width: 8,
      }),
    );
    this.dashboard.addWidgets(new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: Object.values(this.alarms), width: 24 }));
  }
}
