/**
 * The embedded stack's Step Functions: a loopback server that speaks the Step Functions JSON API
 * (AWS JSON 1.0) well enough for `@aws-sdk/client-sfn`, and runs the same Amazon States Language
 * definition as AWS with the `aws-local-stepfunctions` interpreter. Lambda Task states call the
 * handlers in-process as Lambda would; `sqs:sendMessage.waitForTaskToken` states send a real SQS
 * message and wait for SendTaskSuccess / SendTaskFailure. Executions can be stored in a directory
 * (they then continue after a restart) and redriven with AWS's rules.
 *
 * The rooms of this folder:
 *   http-protocol.ts   the AWS JSON 1.0 wire protocol (targets, bodies, error shapes)
 *   executions.ts      running the interpreter: lifecycle, Start/Stop/Describe/List/Redrive
 *   execution-record.ts one execution: how it is described, stored, and judged for a redrive
 *   execution-store.ts executions on disk: resume after a restart, 14-day retention
 *   task-tokens.ts     issuing and answering task tokens (InvalidToken, TaskTimedOut, heartbeats)
 *   lambda-task.ts     a Lambda Task attempt, with the AWS error envelope
 *   sqs-task.ts        an SQS `.waitForTaskToken` attempt, with `SQS.*` error names
 *   definition.ts      validating and planning the definition, the per-execution hooks
 *   state-tracker.ts   `$$.State` (the interpreter never fills it)
 */
import '../promise-with-resolvers.js';
import { Executions } from './executions.js';
import { serveStepFunctionsApi } from './http-protocol.js';
import type { SQSClient } from '@aws-sdk/client-sqs';

/** The part of the Lambda `context` object that handlers may rely on. */
export interface LambdaContextLike {
  functionName: string;
  functionVersion: string;
  invokedFunctionArn: string;
  memoryLimitInMB: string;
  awsRequestId: string;
  logGroupName: string;
  logStreamName: string;
  callbackWaitsForEmptyEventLoop: boolean;
  /** Milliseconds left before the Task state's `TimeoutSeconds` (15 minutes when it has none). */
  getRemainingTimeInMillis(): number;
}

/** A Lambda handler as the Node.js runtime calls it. */
export type LambdaLike = (event: unknown, context: LambdaContextLike) => Promise<unknown>;

/** Execution statuses this server reports (a redrive starts at once, so never `PENDING_REDRIVE`). */
export type ExecutionStatusName = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

/** One execution as DescribeExecution would show it. */
export interface ExecutionSummary {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  status: ExecutionStatusName;
  /** the execution input, as the JSON text passed to StartExecution */
  input: string;
  /** JSON text of the result, when SUCCEEDED */
  output?: string;
  error?: string;
  cause?: string;
  startDate: Date;
  stopDate?: Date;
  /** times RedriveExecution restarted it (0 until then) */
  redriveCount: number;
  redriveDate?: Date;
}

/** An execution that has ended, as handed to `onExecutionEnded`. */
export interface ExecutionEnded {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  status: 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';
  input: string;
  output?: string;
  error?: string;
  cause?: string;
  startDate: Date;
  stopDate: Date;
  /** as in EventBridge's status-change events: which run of the execution ended */
  redriveCount: number;
}

/** What `beforeTask` learns about the Task attempt it gates. */
export interface BeforeTaskEvent {
  stateName: string;
  executionName: string;
  /** the state's effective input: after InputPath and Parameters */
  input: unknown;
}

/** Options of {@link startLocalStepFunctions}. */
export interface LocalStepFunctionsOptions {
  /** ASL (JSONPath) with every `${placeholder}` already substituted. */
  definition: object;
  /** e.g. `arn:aws:states:us-east-1:000000000000:stateMachine:reel-pipeline` */
  stateMachineArn: string;
  /** Handlers keyed by the function ARN exactly as a Task's `Resource` spells it. */
  lambdas: Record<string, LambdaLike>;
  /** Sends the messages of `arn:aws:states:::sqs:sendMessage.waitForTaskToken` states. */
  sqs: SQSClient;
  /**
   * Runs the state machine's own AWS calls (the SQS send), e.g. to attribute them to its role;
   * default: calls `send` as it is.
   */
  runAsService?: <T>(send: () => Promise<T>) => Promise<T>;
  /**
   * Awaited before every Task attempt (retries included), before the Lambda runs or the SQS
   * message is sent; a test-only stage gate. The attempt's `TimeoutSeconds` is already running.
   * If it throws, the attempt fails with that error (for a Lambda state, wrapped exactly as if
   * the function had thrown it).
   */
  beforeTask?: (event: BeforeTaskEvent) => Promise<void>;
  /**
   * Called once per execution when it ends in any status, after DescribeExecution already shows
   * the end. Not called for executions that `close()` aborts. Its rejections are reported with
   * `process.emitWarning` and do not affect the execution.
   */
  onExecutionEnded?: (ended: ExecutionEnded) => Promise<void>;
  /**
   * Test-only: milliseconds to wait between Retry attempts instead of what the Retry fields say,
   * keyed by state name (a number for every retrier of the state, or one per retrier); the
   * interpreter's `retryIntervalOverrides`.
   */
  retryIntervalOverrides?: Record<string, number | number[]>;
  /**
   * A directory where every execution is stored as it runs; at start the stored executions are
   * loaded and the interrupted ones continue from the state they were in (default: in memory).
   */
  persistDir?: string;
  /** default 0: any free port */
  port?: number;
  /** default 127.0.0.1 */
  host?: string;
}

/** A running embedded Step Functions server. */
export interface LocalStepFunctions {
  /** Base URL for `AWS_ENDPOINT_URL_SFN` or `new SFNClient({ endpoint })`. */
  endpoint: string;
  /**
   * Aborts the running executions (status ABORTED, without `onExecutionEnded`), waits for the
   * `onExecutionEnded` calls already under way, and stops the server. Lambdas still running are
   * not interrupted; their results are dropped. With `persistDir` the stored executions stay
   * RUNNING: closing is the process stopping, and the next start continues them.
   */
  close(): Promise<void>;
  /** Every execution started so far, oldest first. */
  executions(): ExecutionSummary[];
  /** Resolves once no execution is running and no `onExecutionEnded` call is under way. */
  idle(): Promise<void>;
}

/**
 * Starts the embedded Step Functions server for one state machine.
 *
 * The definition is validated (asl-validator, as the interpreter does) and every Task state must
 * be a Lambda found in `lambdas` or an `sqs:sendMessage.waitForTaskToken` state; anything else
 * (other resources, JSONata, `Assign`, `TimeoutSecondsPath`, `HeartbeatSecondsPath`) throws here
 * rather than misbehave at run time.
 *
 * @example
 * const sfn = await startLocalStepFunctions({ definition, stateMachineArn, lambdas, sqs });
 * process.env.AWS_ENDPOINT_URL_SFN = sfn.endpoint;
 */
export async function startLocalStepFunctions(options: LocalStepFunctionsOptions): Promise<LocalStepFunctions> {
  const executions = new Executions(options);
  await executions.resume();
  const { tokens } = executions;
  const api = await serveStepFunctionsApi(
    {
      StartExecution: (body) => executions.startExecution(body),
      StopExecution: (body) => executions.stopExecution(body),
      RedriveExecution: (body) => executions.redriveExecution(body),
      DescribeExecution: (body) => executions.describeExecution(body),
      ListExecutions: (body) => executions.listExecutions(body),
      SendTaskSuccess: (body) => tokens.sendTaskSuccess(body),
      SendTaskFailure: (body) => tokens.sendTaskFailure(body),
      SendTaskHeartbeat: (body) => tokens.sendTaskHeartbeat(body),
    },
    options.port ?? 0,
    options.host ?? '127.0.0.1',
  );
  let closing: Promise<void> | undefined;
  return {
    endpoint: api.endpoint,
    close: () => {
      closing ??= executions.close().then(() => api.close());
      return closing;
    },
    executions: () => executions.summaries(),
    idle: () => executions.idle(),
  };
}
