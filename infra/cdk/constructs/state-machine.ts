/**
 * The state machine: the one definition both worlds run (shared/state-machine.ts) with the real
 * ARNs substituted, its log group, its role, and the EventBridge rule that brings every failed
 * ending (a stage error — the definition has no Catch, so a redrive re-runs the stage — an
 * execution timeout, StopExecution) to the fail handler, as the embedded stack's interpreter hook
 * does locally.
 */
import { ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { DEFAULT_DEFINITION_OPTIONS, pipelineDefinition, type DefinitionPlaceholder } from '../../../shared/state-machine.js';
import { StackRoom } from '../stable-logical-ids.js';
import { acknowledge } from './nag-acknowledgements.js';
import type { PipelineQueues } from './queues.js';
import type { StageFunctions } from './stage-functions.js';

/** The one definition both worlds run (its TimeoutSeconds is the execution's limit). */
const DEFINITION = pipelineDefinition(DEFAULT_DEFINITION_OPTIONS);

export interface PipelineStateMachineProps {
  stages: StageFunctions;
  queues: PipelineQueues;
  logRetention: logs.RetentionDays;
}

export class PipelineStateMachine extends StackRoom {
  readonly stateMachine: sfn.StateMachine;
  /** every execution of this state machine, as an IAM resource (`execution:<machine>:*`) */
  readonly executionArns: string;
  readonly executionEndedRule: events.Rule;

  constructor(scope: Construct, id: string, props: PipelineStateMachineProps) {
    super(scope, id);
    const { stages: f, queues } = props;
    const stack = Stack.of(this);

    const smLogs = new logs.LogGroup(this, 'StateMachineLogs', {
      logGroupName: `/aws/vendedlogs/states/${stack.stackName}-pipeline`,
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const substitutions: Record<DefinitionPlaceholder, string> = {
      StartFunctionArn: f.start.fn.functionArn,
      StoryFunctionArn: f.story.fn.functionArn,
      TtsFunctionArn: f.tts.fn.functionArn,
      DraftFunctionArn: f.draft.fn.functionArn,
      FinalizeFunctionArn: f.finalize.fn.functionArn,
      ExportQueueUrl: queues.exportQueue.queueUrl,
    };
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineType: sfn.StateMachineType.STANDARD,
      // The one definition both worlds run; its TimeoutSeconds is the execution's limit.
      definitionBody: sfn.DefinitionBody.fromString(JSON.stringify(DEFINITION)),
      definitionSubstitutions: substitutions,
      // Level ALL (cdk-nag SF1) but no execution data: state inputs carry task tokens and
      // presigned-URL material, and a token in CloudWatch lets any log reader finish a task.
      logs: { destination: smLogs, level: sfn.LogLevel.ALL, includeExecutionData: false },
      tracingEnabled: true,
    });
    // Unqualified ARNs only: the definition invokes `$LATEST`, never a version or alias.
    this.stateMachine.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['lambda:InvokeFunction'],
        resources: [f.start, f.story, f.tts, f.draft, f.finalize].map((fn) => fn.fn.functionArn),
      }),
    );
    this.stateMachine.addToRolePolicy(new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [queues.exportQueue.queueArn] }));
    acknowledge(
      this.stateMachine,
      'AwsSolutions-IAM5[Resource::*]',
      'Two statements CDK adds for settings nag requires, on actions that have no resource-level permissions: X-Ray (xray:PutTraceSegments, PutTelemetryRecords, GetSamplingRules, GetSamplingTargets) for SF2, and CloudWatch Logs vended-log delivery (logs:CreateLogDelivery, GetLogDelivery, UpdateLogDelivery, DeleteLogDelivery, ListLogDeliveries, PutResourcePolicy, DescribeResourcePolicies, DescribeLogGroups) for SF1. Asserted statement by statement in test/infra/cdk-pipeline-stack.test.ts.',
    );

    this.executionArns = stack.formatArn({
      service: 'states',
      resource: 'execution',
      resourceName: `${this.stateMachine.stateMachineName}:*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });

    // Every failed ending reaches the fail handler: an EventBridge rule on FAILED, TIMED_OUT
    // and ABORTED executions of this machine, retried for a day, then to the undelivered queue.
    this.executionEndedRule = new events.Rule(this, 'ExecutionEndedRule', {
      description: 'reel-pipeline: an execution ended FAILED, TIMED_OUT or ABORTED → the fail handler records it and frees the lock',
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: { status: ['FAILED', 'TIMED_OUT', 'ABORTED'], stateMachineArn: [this.stateMachine.stateMachineArn] },
      },
      targets: [
        new targets.LambdaFunction(f.fail.fn, {
          deadLetterQueue: queues.undeliveredEventsQueue,
          retryAttempts: 185,
          maxEventAge: Duration.hours(24),
        }),
      ],
    });
    f.fail.fn.configureAsyncInvoke({ onFailure: queues.undeliveredEvents, retryAttempts: 2 });
  }
}
