/**
 * The embedded stack's Step Functions: a loopback server that speaks the Step Functions JSON API
 * (AWS JSON 1.0) well enough for `@aws-sdk/client-sfn`, and runs the same Amazon States Language
 * definition as AWS with the `aws-local-stepfunctions` interpreter. Lambda Task states call the
 * handlers in-process as Lambda would; `sqs:sendMessage.waitForTaskToken` states send a real SQS
 * message and wait for SendTaskSuccess / SendTaskFailure.
 */
import './promise-with-resolvers.js';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  SendMessageCommand,
  type MessageAttributeValue,
  type SendMessageCommandInput,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import {
  ExecutionAbortedError,
  ExecutionError,
  ExecutionTimeoutError,
  StateMachine,
  type RunOptions,
  type StateMachineDefinition,
} from 'aws-local-stepfunctions';

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

/** Execution statuses this server reports (no redrive, so never `PENDING_REDRIVE`). */
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
   * not interrupted; their results are dropped.
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
  const service = new EmbeddedStepFunctions(options);
  const endpoint = await service.listen(options.port ?? 0, options.host ?? '127.0.0.1');
  return {
    endpoint,
    close: () => service.close(),
    executions: () => service.summaries(),
    idle: () => service.idle(),
  };
}

// ---------------------------------------------------------------------------------------------

type Overrides = NonNullable<RunOptions['overrides']>;
type TaskHandlers = NonNullable<Overrides['taskResourceLocalHandlers']>;
type TaskHandler = TaskHandlers[string];
type JSONValue = Parameters<TaskHandler>[0];
type RunContext = NonNullable<RunOptions['context']>;

/** Step Functions' payload quota (input, output, task results). */
const MAX_PAYLOAD_BYTES = 262_144;
/** The longest delay setTimeout honours (2^31-1 ms); stands in for "no timeout" as on AWS. */
const NO_TIMEOUT_SECONDS = 2_147_483;
/** Lambda's own ceiling, reported by getRemainingTimeInMillis when the state has no timeout. */
const LAMBDA_MAX_TIMEOUT_MS = 900_000;
const SQS_WAIT_FOR_TASK_TOKEN = 'arn:aws:states:::sqs:sendMessage.waitForTaskToken';
const SQS_SEND_MESSAGE_FIELDS = new Set([
  'QueueUrl',
  'MessageBody',
  'DelaySeconds',
  'MessageAttributes',
  'MessageDeduplicationId',
  'MessageGroupId',
  'MessageSystemAttributes',
]);
const HASH_ALGORITHMS: Record<string, string> = {
  MD5: 'md5',
  'SHA-1': 'sha1',
  'SHA-256': 'sha256',
  'SHA-384': 'sha384',
  'SHA-512': 'sha512',
};
const TOKEN_HASH_CALL = /States\.Hash\(\s*\$\$\.Task\.Token\s*,\s*'(MD5|SHA-1|SHA-256|SHA-384|SHA-512)'\s*\)/g;
const FAIL_STATE_DEFAULT_CAUSE = 'Execution failed because of a Fail state';
const STATUSES: ReadonlySet<string> = new Set(['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED']);

type TaskPlan =
  | { kind: 'lambda'; functionArn: string; handler: LambdaLike; timeoutMs: number }
  | { kind: 'sqs'; timeoutMs: number; heartbeatMs?: number };

interface ExecutionRecord extends ExecutionSummary {
  /** aborted when the execution ends in any way: pending Task attempts reject at once */
  ended: AbortController;
  abortInterpreter(): void;
  /** the token `$$.Task.Token` shows until the next Task attempt claims it */
  unclaimedToken?: string;
  tokens: Set<string>;
}

interface TokenEntry {
  execution: ExecutionRecord;
  status: 'pending' | 'timed-out';
  resolve(output: JSONValue): void;
  reject(error: Error): void;
  timers: Set<NodeJS.Timeout>;
  heartbeatMs?: number;
  heartbeatTimer?: NodeJS.Timeout;
}

type Outcome = Pick<ExecutionSummary, 'output' | 'error' | 'cause'> & { status: ExecutionEnded['status'] };

/** An API error the SDK turns into its own exception class (`__type`). */
class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = code;
  }
}

/**
 * A Task failure as Step Functions reports it: `name` is the Error matched by `ErrorEquals`,
 * `message` the Cause. The interpreter reads `isRetryable` / `isCatchable`.
 */
class TaskFailure extends Error {
  readonly isRetryable: boolean;
  readonly isCatchable: boolean;
  constructor(error: string, cause: string, options: { terminal?: boolean } = {}) {
    super(cause);
    this.name = error;
    this.isRetryable = !options.terminal;
    this.isCatchable = !options.terminal;
  }
}

/** Rejects a Task attempt of an execution that has ended; neither retried nor caught. */
class ExecutionEndedError extends TaskFailure {
  constructor() {
    super('States.Runtime', 'The execution has already ended', { terminal: true });
  }
}

/** Tracks which state is being evaluated, for `$$.State`. */
class StateTracker {
  private readonly entries = new Map<string, { enteredTime: string; attempts: number }>();
  private focused: string | undefined;

  enter(stateName: string): void {
    this.entries.set(stateName, { enteredTime: new Date().toISOString(), attempts: 0 });
    this.focused = stateName;
  }

  focus(stateName: string): void {
    this.focused = stateName;
  }

  countAttempt(stateName: string): void {
    const entry = this.entries.get(stateName);
    if (entry) entry.attempts += 1;
  }

  /** The live `$$.State` object. */
  view(): Record<string, unknown> {
    const current = () => (this.focused === undefined ? undefined : this.entries.get(this.focused));
    return Object.defineProperties(
      {},
      {
        Name: { enumerable: true, get: () => this.focused },
        EnteredTime: { enumerable: true, get: () => current()?.enteredTime },
        RetryCount: { enumerable: true, get: () => current()?.attempts ?? 0 },
      },
    );
  }
}

class EmbeddedStepFunctions {
  private readonly definition: Record<string, unknown>;
  private readonly plans: Map<string, TaskPlan>;
  private readonly stateMachineArn: string;
  private readonly machineName: string;
  private readonly executionArnPrefix: string;
  private readonly records = new Map<string, ExecutionRecord>();
  private readonly tokens = new Map<string, TokenEntry>();
  private readonly callbacks = new Set<Promise<void>>();
  private idleWaiters: Array<() => void> = [];
  private running = 0;
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly server: Server;

  constructor(private readonly options: LocalStepFunctionsOptions) {
    const arn = parseStateMachineArn(options.stateMachineArn);
    this.stateMachineArn = options.stateMachineArn;
    this.machineName = arn.name;
    this.executionArnPrefix = `arn:${arn.partition}:states:${arn.region}:${arn.account}:execution:${arn.name}`;
    this.definition = validateDefinition(options.definition);
    this.plans = planTasks(this.definition, options.lambdas);
    this.server = createServer((request, response) => {
      void this.handle(request, response);
    });
  }

  listen(port: number, host: string): Promise<string> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        const address = this.server.address() as AddressInfo;
        const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
        resolve(`http://${shownHost}:${address.port}`);
      });
    });
  }

  close(): Promise<void> {
    this.closed = true;
    this.closing ??= (async () => {
      for (const record of this.records.values()) {
        if (record.status !== 'RUNNING') continue;
        this.finish(record, { status: 'ABORTED', cause: 'The embedded Step Functions server was closed' });
        record.abortInterpreter();
      }
      await Promise.allSettled([...this.callbacks]);
      await new Promise<void>((resolve, reject) => {
        this.server.close((error) => (error ? reject(error) : resolve()));
        this.server.closeAllConnections();
      });
    })();
    return this.closing;
  }

  summaries(): ExecutionSummary[] {
    return [...this.records.values()].map(summarize);
  }

  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private isIdle(): boolean {
    return this.running === 0 && this.callbacks.size === 0;
  }

  private settleIdleWaiters(): void {
    if (!this.isIdle()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const wake of waiters) wake();
  }

  // --- HTTP -----------------------------------------------------------------------------------

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    try {
      const target = request.headers['x-amz-target'];
      const prefix = 'AWSStepFunctions.';
      if (request.method !== 'POST' || typeof target !== 'string' || !target.startsWith(prefix)) {
        throw new ApiError('UnknownOperationException', 'Expected POST / with X-Amz-Target: AWSStepFunctions.<Operation>');
      }
      const text = await readBody(request, 4 * MAX_PAYLOAD_BYTES);
      const body = parseRequestBody(text);
      const result = this.dispatch(target.slice(prefix.length), body);
      reply(response, 200, result, requestId);
    } catch (error: unknown) {
      if (error instanceof ApiError) {
        reply(response, 400, { __type: error.code, message: error.message }, requestId, error.code);
      } else {
        const message = error instanceof Error ? error.message : String(error);
        reply(response, 500, { __type: 'InternalFailure', message }, requestId, 'InternalFailure');
      }
    }
  }

  private dispatch(operation: string, body: Record<string, unknown>): Record<string, unknown> {
    switch (operation) {
      case 'StartExecution':
        return this.startExecution(body);
      case 'StopExecution':
        return this.stopExecution(body);
      case 'DescribeExecution':
        return describe(this.recordOf(requiredString(body, 'executionArn')));
      case 'ListExecutions':
        return this.listExecutions(body);
      case 'SendTaskSuccess':
        return this.sendTaskSuccess(body);
      case 'SendTaskFailure':
        return this.sendTaskFailure(body);
      case 'SendTaskHeartbeat':
        return this.sendTaskHeartbeat(body);
      default:
        throw new ApiError('UnknownOperationException', `${operation} is not supported by the embedded Step Functions`);
    }
  }

  // --- executions -----------------------------------------------------------------------------

  private startExecution(body: Record<string, unknown>): Record<string, unknown> {
    this.checkStateMachine(requiredString(body, 'stateMachineArn'));
    if (this.closed) throw new ApiError('ServiceUnavailable', 'The embedded Step Functions server is closing');
    const name = optionalString(body, 'name') ?? randomUUID();
    const problem = executionNameProblem(name);
    if (problem) throw new ApiError('InvalidName', `Invalid Name: '${name}' (${problem})`);
    const input = optionalString(body, 'input') ?? '{}';
    const parsedInput = parseJsonPayload(input, 'InvalidExecutionInput', 'input');
    const executionArn = `${this.executionArnPrefix}:${name}`;
    if (this.records.has(executionArn)) {
      throw new ApiError('ExecutionAlreadyExists', `Execution Already Exists: '${executionArn}'`);
    }
    const record = this.launch(executionArn, name, input, parsedInput);
    return { executionArn: record.executionArn, startDate: epochSeconds(record.startDate) };
  }

  private launch(executionArn: string, name: string, input: string, parsedInput: JSONValue): ExecutionRecord {
    const record: ExecutionRecord = {
      executionArn,
      stateMachineArn: this.stateMachineArn,
      name,
      status: 'RUNNING',
      input,
      startDate: new Date(),
      ended: new AbortController(),
      abortInterpreter: () => undefined,
      tokens: new Set(),
    };
    this.records.set(executionArn, record);
    this.running += 1;
    const tracker = new StateTracker();
    // Validated once in the constructor; the per-execution copy only adds hooks (see instrumentMachine).
    const machine = new StateMachine(instrumentMachine(this.definition, tracker) as unknown as StateMachineDefinition, {
      validationOptions: { noValidate: true },
    });
    const run = machine.run(parsedInput, {
      context: this.contextFor(record, tracker),
      overrides: {
        taskResourceLocalHandlers: this.handlersFor(record, tracker),
        retryIntervalOverrides: this.options.retryIntervalOverrides,
      },
    });
    record.abortInterpreter = run.abort;
    run.result.then(
      (output) => this.finish(record, { status: 'SUCCEEDED', output: JSON.stringify(output) }),
      (error: unknown) => this.finish(record, outcomeOf(error)),
    );
    return record;
  }

  /** Ends an execution once: status, tokens, pending attempts, idle waiters, onExecutionEnded. */
  private finish(record: ExecutionRecord, outcome: Outcome): void {
    if (record.status !== 'RUNNING') return;
    Object.assign(record, outcome, { stopDate: new Date() });
    record.ended.abort();
    for (const token of record.tokens) {
      const entry = this.tokens.get(token);
      if (entry) clearTimers(entry);
      this.tokens.delete(token);
    }
    record.tokens.clear();
    this.running -= 1;
    const notify = this.options.onExecutionEnded;
    if (notify && !this.closed && record.status !== 'RUNNING' && record.stopDate) {
      const ended: ExecutionEnded = { ...summarize(record), status: record.status, stopDate: record.stopDate };
      const call: Promise<void> = Promise.resolve()
        .then(() => notify(ended))
        .catch((error: unknown) => {
          process.emitWarning(`onExecutionEnded failed for ${record.executionArn}: ${String(error)}`);
        })
        .finally(() => {
          this.callbacks.delete(call);
          this.settleIdleWaiters();
        });
      this.callbacks.add(call);
    }
    this.settleIdleWaiters();
  }

  private stopExecution(body: Record<string, unknown>): Record<string, unknown> {
    const record = this.recordOf(requiredString(body, 'executionArn'));
    if (record.status === 'RUNNING') {
      this.finish(record, {
        status: 'ABORTED',
        error: optionalString(body, 'error'),
        cause: optionalString(body, 'cause'),
      });
      record.abortInterpreter();
    }
    return { stopDate: epochSeconds(record.stopDate ?? new Date()) };
  }

  private listExecutions(body: Record<string, unknown>): Record<string, unknown> {
    this.checkStateMachine(requiredString(body, 'stateMachineArn'));
    const statusFilter = optionalString(body, 'statusFilter');
    if (statusFilter !== undefined && !STATUSES.has(statusFilter) && statusFilter !== 'PENDING_REDRIVE') {
      throw new ApiError('ValidationException', `Value '${statusFilter}' at 'statusFilter' is not a valid execution status`);
    }
    const maxResults = typeof body.maxResults === 'number' && body.maxResults > 0 ? Math.min(body.maxResults, 1000) : 100;
    const offset = decodeNextToken(optionalString(body, 'nextToken'));
    const matching = [...this.records.values()]
      .filter((record) => statusFilter === undefined || record.status === statusFilter)
      .reverse();
    const page = matching.slice(offset, offset + maxResults);
    const next = offset + page.length < matching.length ? encodeNextToken(offset + page.length) : undefined;
    return {
      executions: page.map((record) => ({
        executionArn: record.executionArn,
        stateMachineArn: record.stateMachineArn,
        name: record.name,
        status: record.status,
        startDate: epochSeconds(record.startDate),
        ...(record.stopDate ? { stopDate: epochSeconds(record.stopDate) } : {}),
      })),
      ...(next ? { nextToken: next } : {}),
    };
  }

  private checkStateMachine(arn: string): void {
    if (arn === this.stateMachineArn) return;
    if (/^arn:aws[a-z-]*:states:[^:]+:\d{12}:stateMachine:[^:]+$/.test(arn)) {
      throw new ApiError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${arn}'`);
    }
    throw new ApiError('InvalidArn', `Invalid Arn: '${arn}'`);
  }

  private recordOf(executionArn: string): ExecutionRecord {
    const record = this.records.get(executionArn);
    if (record) return record;
    if (/^arn:aws[a-z-]*:states:[^:]+:\d{12}:execution:[^:]+:[^:]+$/.test(executionArn)) {
      throw new ApiError('ExecutionDoesNotExist', `Execution Does Not Exist: '${executionArn}'`);
    }
    throw new ApiError('InvalidArn', `Invalid Arn: '${executionArn}'`);
  }

  // --- task tokens ----------------------------------------------------------------------------

  private sendTaskSuccess(body: Record<string, unknown>): Record<string, unknown> {
    const token = requiredString(body, 'taskToken');
    const output = parseJsonPayload(requiredString(body, 'output'), 'InvalidOutput', 'output');
    const entry = this.claimToken(token);
    entry.resolve(output);
    return {};
  }

  private sendTaskFailure(body: Record<string, unknown>): Record<string, unknown> {
    const token = requiredString(body, 'taskToken');
    const entry = this.claimToken(token);
    entry.reject(new TaskFailure(optionalString(body, 'error') ?? '', optionalString(body, 'cause') ?? ''));
    return {};
  }

  private sendTaskHeartbeat(body: Record<string, unknown>): Record<string, unknown> {
    const entry = this.liveToken(requiredString(body, 'taskToken'));
    if (entry.heartbeatMs !== undefined && entry.heartbeatTimer !== undefined) this.armHeartbeat(entry);
    return {};
  }

  private liveToken(token: string): TokenEntry {
    const entry = this.tokens.get(token);
    if (!entry) throw new ApiError('InvalidToken', 'Invalid Token: the task token is unknown or its task has ended');
    if (entry.status === 'timed-out') throw new ApiError('TaskTimedOut', 'Task Timed Out: the task has timed out');
    return entry;
  }

  /** The token's task ends now: later SendTask* calls with it get InvalidToken. */
  private claimToken(token: string): TokenEntry {
    const entry = this.liveToken(token);
    this.releaseToken(token, entry);
    return entry;
  }

  private releaseToken(token: string, entry: TokenEntry): void {
    clearTimers(entry);
    this.tokens.delete(token);
    entry.execution.tokens.delete(token);
  }

  private armHeartbeat(entry: TokenEntry): void {
    if (entry.heartbeatTimer !== undefined) {
      clearTimeout(entry.heartbeatTimer);
      entry.timers.delete(entry.heartbeatTimer);
    }
    const timer = setTimeout(() => {
      if (entry.status !== 'pending') return;
      entry.status = 'timed-out';
      clearTimers(entry);
      entry.reject(new TaskFailure('States.HeartbeatTimeout', ''));
    }, entry.heartbeatMs);
    entry.heartbeatTimer = timer;
    entry.timers.add(timer);
  }

  // --- Task attempts --------------------------------------------------------------------------

  private contextFor(record: ExecutionRecord, tracker: StateTracker): RunContext {
    const task = Object.defineProperty({}, 'Token', { enumerable: true, get: () => peekToken(record) });
    for (const algorithm of Object.keys(HASH_ALGORITHMS)) {
      Object.defineProperty(task, tokenHashKey(algorithm), {
        enumerable: false,
        get: () => hashText(algorithm, peekToken(record)),
      });
    }
    return {
      Execution: { Id: record.executionArn, Name: record.name, RedriveCount: 0 },
      StateMachine: { Id: this.stateMachineArn, Name: this.machineName },
      State: tracker.view(),
      Task: task,
    };
  }

  private handlersFor(record: ExecutionRecord, tracker: StateTracker): TaskHandlers {
    const handlers: TaskHandlers = {};
    for (const [stateName, plan] of this.plans) {
      handlers[stateName] = (input: JSONValue): Promise<JSONValue> => {
        // The interpreter evaluates Parameters and calls this synchronously, so the token that
        // Parameters just read is the one this attempt claims.
        const token = claimUnclaimedToken(record);
        tracker.countAttempt(stateName);
        if (record.status !== 'RUNNING') return Promise.reject(new ExecutionEndedError());
        const attempt =
          plan.kind === 'lambda'
            ? this.invokeLambda(record, stateName, plan, input)
            : this.sendAndWait(record, stateName, plan, input, token);
        return settleWhenEnded(record.ended.signal, attempt);
      };
    }
    return handlers;
  }

  private invokeLambda(
    record: ExecutionRecord,
    stateName: string,
    plan: Extract<TaskPlan, { kind: 'lambda' }>,
    input: JSONValue,
  ): Promise<JSONValue> {
    const deadline = Date.now() + plan.timeoutMs;
    const functionName = lambdaFunctionName(plan.functionArn);
    const context: LambdaContextLike = {
      functionName,
      functionVersion: '$LATEST',
      invokedFunctionArn: plan.functionArn,
      memoryLimitInMB: '1024',
      awsRequestId: randomUUID(),
      logGroupName: `/aws/lambda/${functionName}`,
      logStreamName: `${new Date().toISOString().slice(0, 10).replaceAll('-', '/')}/[$LATEST]${randomBytes(16).toString('hex')}`,
      callbackWaitsForEmptyEventLoop: true,
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    };
    const invoke = async (): Promise<unknown> => {
      await this.options.beforeTask?.({ stateName, executionName: record.name, input: cloneJson(input) });
      if (record.status !== 'RUNNING') throw new ExecutionEndedError();
      return plan.handler(cloneJson(input), context);
    };
    return invoke().then(toTaskResult, (error: unknown) => {
      throw error instanceof ExecutionEndedError ? error : lambdaFailure(error);
    });
  }

  private sendAndWait(
    record: ExecutionRecord,
    stateName: string,
    plan: Extract<TaskPlan, { kind: 'sqs' }>,
    input: JSONValue,
    token: string,
  ): Promise<JSONValue> {
    let entry: TokenEntry | undefined;
    const answered = new Promise<JSONValue>((resolve, reject) => {
      entry = { execution: record, status: 'pending', resolve, reject, timers: new Set(), heartbeatMs: plan.heartbeatMs };
    });
    if (!entry) throw new Error('unreachable: Promise executors run synchronously');
    const waiting = entry;
    this.tokens.set(token, waiting);
    record.tokens.add(token);
    // The interpreter's own timer (same TimeoutSeconds, armed just after this one) rejects the
    // attempt with its States.Timeout; this one only makes the token answer TaskTimedOut. Rejecting
    // here instead would let `States.TaskFailed` catch a timeout, which AWS does not.
    const timeout = setTimeout(() => {
      if (waiting.status !== 'pending') return;
      waiting.status = 'timed-out';
      clearTimers(waiting);
    }, plan.timeoutMs);
    waiting.timers.add(timeout);

    const send = async (): Promise<JSONValue> => {
      await this.options.beforeTask?.({ stateName, executionName: record.name, input: cloneJson(input) });
      if (record.status !== 'RUNNING') throw new ExecutionEndedError();
      if (waiting.status !== 'pending') return answered;
      try {
        const message = new SendMessageCommand(toSendMessageInput(input));
        await (this.options.runAsService ?? ((s) => s()))(() => this.options.sqs.send(message));
      } catch (error: unknown) {
        throw error instanceof TaskFailure ? error : sqsFailure(error);
      }
      // HeartbeatSeconds counts from the moment the message is sent, as on AWS.
      if (waiting.heartbeatMs !== undefined && waiting.status === 'pending' && this.tokens.has(token)) {
        this.armHeartbeat(waiting);
      }
      return answered;
    };
    return send().catch((error: unknown) => {
      // A failed gate or send ends the attempt; a heartbeat timeout keeps answering TaskTimedOut.
      if (waiting.status === 'pending' && this.tokens.get(token) === waiting) this.releaseToken(token, waiting);
      throw error;
    });
  }
}

// --- definition -------------------------------------------------------------------------------

/**
 * asl-validator's verdict per definition text. It compiles its JSON schemas on every call
 * (~0.5 s); the verdict of a given text never changes, so instances can share it safely.
 */
const validationVerdicts = new Map<string, string | null>();

function validateDefinition(definition: object): Record<string, unknown> {
  const text = JSON.stringify(definition);
  const copy: unknown = JSON.parse(text);
  if (!isRecord(copy) || !isRecord(copy.States) || typeof copy.StartAt !== 'string') {
    throw new Error('Invalid state machine definition: expected an object with StartAt and States');
  }
  let verdict = validationVerdicts.get(text);
  if (verdict === undefined) {
    try {
      // The constructor runs asl-validator (schema, ARNs, JSONPaths) as the interpreter would; it
      // writes QueryLanguage defaults into what it validates, hence a throwaway copy.
      new StateMachine(JSON.parse(text) as StateMachineDefinition);
      verdict = null;
    } catch (error: unknown) {
      verdict = error instanceof Error ? error.message : String(error);
    }
    validationVerdicts.set(text, verdict);
  }
  if (verdict !== null) throw new Error(`Invalid state machine definition: ${verdict}`);
  return copy;
}

/** Decides how each Task state runs, and rejects what the interpreter would silently get wrong. */
function planTasks(definition: Record<string, unknown>, lambdas: Record<string, LambdaLike>): Map<string, TaskPlan> {
  const plans = new Map<string, TaskPlan>();
  const seen = new Set<string>();
  const visit = (machine: unknown, where: string): void => {
    if (!isRecord(machine) || !isRecord(machine.States)) throw new Error(`${where}: expected States`);
    if (machine.QueryLanguage === 'JSONata') throw new Error(`${where}: JSONata is not supported; write JSONPath`);
    for (const [name, state] of Object.entries(machine.States)) {
      if (!isRecord(state)) throw new Error(`State "${name}" is not an object`);
      // Overrides are keyed by state name; AWS also requires names unique machine-wide.
      if (seen.has(name)) throw new Error(`State name "${name}" is used twice`);
      seen.add(name);
      if (state.QueryLanguage === 'JSONata') throw new Error(`State "${name}": JSONata is not supported; write JSONPath`);
      for (const field of ['Assign', 'Arguments', 'Output']) {
        if (field in state) throw new Error(`State "${name}": ${field} is not supported (the interpreter ignores it)`);
      }
      if (state.Type === 'Parallel' && Array.isArray(state.Branches)) {
        state.Branches.forEach((branch, index) => visit(branch, `State "${name}" branch ${index}`));
      }
      if (state.Type === 'Map') visit(state.ItemProcessor ?? state.Iterator, `State "${name}" ItemProcessor`);
      if (state.Type === 'Task') plans.set(name, planTask(name, state, lambdas));
    }
  };
  visit(definition, 'Definition');
  return plans;
}

function planTask(name: string, state: Record<string, unknown>, lambdas: Record<string, LambdaLike>): TaskPlan {
  for (const field of ['TimeoutSecondsPath', 'HeartbeatSecondsPath', 'Credentials']) {
    if (field in state) throw new Error(`State "${name}": ${field} is not supported by the embedded Step Functions`);
  }
  const resource = state.Resource;
  const timeoutSeconds = typeof state.TimeoutSeconds === 'number' ? state.TimeoutSeconds : undefined;
  if (resource === SQS_WAIT_FOR_TASK_TOKEN) {
    const parameters = state.Parameters;
    if (!isRecord(parameters)) throw new Error(`State "${name}": Parameters with QueueUrl and MessageBody are required`);
    const fields = Object.keys(parameters).map((key) => key.replace(/\.\$$/, ''));
    const unknown = fields.filter((field) => !SQS_SEND_MESSAGE_FIELDS.has(field));
    if (unknown.length > 0) throw new Error(`State "${name}": unsupported SendMessage parameters ${unknown.join(', ')}`);
    if (!fields.includes('QueueUrl') || !fields.includes('MessageBody')) {
      throw new Error(`State "${name}": Parameters need QueueUrl and MessageBody`);
    }
    return {
      kind: 'sqs',
      timeoutMs: (timeoutSeconds ?? NO_TIMEOUT_SECONDS) * 1000,
      heartbeatMs: typeof state.HeartbeatSeconds === 'number' ? state.HeartbeatSeconds * 1000 : undefined,
    };
  }
  if (typeof resource === 'string' && Object.hasOwn(lambdas, resource)) {
    return {
      kind: 'lambda',
      functionArn: resource,
      handler: lambdas[resource],
      timeoutMs: timeoutSeconds === undefined ? LAMBDA_MAX_TIMEOUT_MS : timeoutSeconds * 1000,
    };
  }
  throw new Error(
    `State "${name}": Resource ${String(resource)} is neither a function in "lambdas" nor ${SQS_WAIT_FOR_TASK_TOKEN}`,
  );
}

/**
 * A per-execution copy of the definition with hooks the interpreter cannot give otherwise:
 * - `States` is a Proxy: the interpreter reads `States[next]` right before it evaluates that
 *   state's Parameters (synchronously), which is when `$$.State` must switch to it;
 * - `Retry` is a Proxy: the interpreter reads `Retry[i]` right before re-evaluating Parameters
 *   for a retry, which refocuses `$$.State` when parallel branches interleave;
 * - a Task without TimeoutSeconds gets the longest timer Node allows, as AWS has no default
 *   (the interpreter would impose 60 s);
 * - `States.Hash($$.Task.Token, '<algorithm>')` reads a node:crypto digest of the token, because
 *   the interpreter's own MD5/SHA implementations are wrong beyond one block (55 bytes for
 *   SHA-256) and task tokens are ~640 characters.
 */
function instrumentMachine(machine: Record<string, unknown>, tracker: StateTracker): Record<string, unknown> {
  const states: Record<string, unknown> = {};
  for (const [name, state] of Object.entries(isRecord(machine.States) ? machine.States : {})) {
    states[name] = isRecord(state) ? instrumentState(name, state, tracker) : state;
  }
  const statesProxy = new Proxy(states, {
    get(target, key, receiver) {
      if (typeof key === 'string' && Object.hasOwn(target, key)) tracker.enter(key);
      return Reflect.get(target, key, receiver);
    },
  });
  return { ...machine, States: statesProxy };
}

function instrumentState(name: string, state: Record<string, unknown>, tracker: StateTracker): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...state };
  for (const field of ['Parameters', 'ResultSelector', 'ItemSelector']) {
    if (field in copy) copy[field] = rewriteTokenHashes(copy[field]);
  }
  if (copy.Type === 'Task' && copy.TimeoutSeconds === undefined) copy.TimeoutSeconds = NO_TIMEOUT_SECONDS;
  if (Array.isArray(copy.Retry)) {
    copy.Retry = new Proxy(copy.Retry, {
      get(target, key, receiver) {
        if (typeof key === 'string' && /^\d+$/.test(key)) tracker.focus(name);
        return Reflect.get(target, key, receiver);
      },
    });
  }
  if (copy.Type === 'Parallel' && Array.isArray(copy.Branches)) {
    copy.Branches = copy.Branches.map((branch: unknown) => (isRecord(branch) ? instrumentMachine(branch, tracker) : branch));
  }
  if (copy.Type === 'Map') {
    for (const field of ['ItemProcessor', 'Iterator']) {
      const nested = copy[field];
      if (isRecord(nested)) copy[field] = instrumentMachine(nested, tracker);
    }
  }
  return copy;
}

function rewriteTokenHashes(template: unknown): unknown {
  if (Array.isArray(template)) return template.map(rewriteTokenHashes);
  if (!isRecord(template)) return template;
  const rewritten: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(template)) {
    rewritten[key] =
      key.endsWith('.$') && typeof value === 'string'
        ? value.replace(TOKEN_HASH_CALL, (_call, algorithm: string) => `$$.Task.${tokenHashKey(algorithm)}`)
        : rewriteTokenHashes(value);
  }
  return rewritten;
}

function tokenHashKey(algorithm: string): string {
  return `__tokenHash_${algorithm.replace('-', '')}`;
}

function hashText(algorithm: string, text: string): string {
  return createHash(HASH_ALGORITHMS[algorithm]).update(text, 'utf8').digest('hex');
}

// --- task tokens and attempts -----------------------------------------------------------------

/** Opaque and about as long as an AWS task token, so length limits bite here too. */
function mintToken(): string {
  return `AQ${randomBytes(480).toString('base64')}`;
}

/**
 * `$$.Task.Token` for the attempt being evaluated: several reads in one Parameters block (the
 * message body and the dedup-id hash) must agree, and the next attempt must get a new one.
 */
function peekToken(record: ExecutionRecord): string {
  record.unclaimedToken ??= mintToken();
  return record.unclaimedToken;
}

function claimUnclaimedToken(record: ExecutionRecord): string {
  const token = record.unclaimedToken ?? mintToken();
  record.unclaimedToken = undefined;
  return token;
}

/** Rejects the attempt as soon as the execution ends, so late results cannot reach the interpreter. */
function settleWhenEnded(ended: AbortSignal, attempt: Promise<JSONValue>): Promise<JSONValue> {
  if (ended.aborted) {
    attempt.catch(() => undefined);
    return Promise.reject(new ExecutionEndedError());
  }
  return new Promise((resolve, reject) => {
    const onEnded = () => reject(new ExecutionEndedError());
    ended.addEventListener('abort', onEnded, { once: true });
    attempt.then(
      (value) => {
        ended.removeEventListener('abort', onEnded);
        resolve(value);
      },
      (error: unknown) => {
        ended.removeEventListener('abort', onEnded);
        reject(error);
      },
    );
  });
}

function clearTimers(entry: TokenEntry): void {
  for (const timer of entry.timers) clearTimeout(timer);
  entry.timers.clear();
  entry.heartbeatTimer = undefined;
}

function toTaskResult(result: unknown): JSONValue {
  const text = JSON.stringify(result) ?? 'null';
  if (Buffer.byteLength(text, 'utf8') > MAX_PAYLOAD_BYTES) {
    throw new TaskFailure(
      'States.DataLimitExceeded',
      'The state/task returned a result with a size exceeding the maximum number of bytes service limit.',
      { terminal: true },
    );
  }
  return parseJson(text);
}

/** The Node.js Lambda runtime's error payload, which Step Functions passes on as the Cause. */
function lambdaFailure(error: unknown): TaskFailure {
  const payload =
    error instanceof Error
      ? { errorType: error.name, errorMessage: error.message, trace: error.stack?.split('\n') ?? [] }
      : { errorType: typeof error, errorMessage: String(error), trace: [] };
  return new TaskFailure(payload.errorType, JSON.stringify(payload));
}

/**
 * SQS errors surface as `SQS.<Exception>`, the way the Step Functions integration names them: no
 * answer from the service → `SQS.SdkClientException`; a server-side fault (5xx) → the SDK's base
 * `SQS.AmazonSQSException`, its code in the cause; a modelled 4xx keeps its own name.
 */
function sqsFailure(error: unknown): TaskFailure {
  if (!(error instanceof Error)) return new TaskFailure('SQS.SdkClientException', String(error));
  const exception = error.name.endsWith('Exception') ? error.name : `${error.name}Exception`;
  const metadata: unknown = Reflect.get(error, '$metadata');
  const status = isRecord(metadata) ? metadata.httpStatusCode : undefined;
  const requestId = isRecord(metadata) ? metadata.requestId : undefined;
  if (status === undefined) return new TaskFailure('SQS.SdkClientException', error.message);
  const cause = `${error.message} (Service: Sqs, Status Code: ${String(status)}, Error Code: ${error.name}, Request ID: ${String(requestId)})`;
  return new TaskFailure(typeof status === 'number' && status >= 500 ? 'SQS.AmazonSQSException' : `SQS.${exception}`, cause);
}

function toSendMessageInput(input: JSONValue): SendMessageCommandInput {
  const runtimeError = (detail: string) => new TaskFailure('States.Runtime', detail, { terminal: true });
  if (!isRecord(input)) throw runtimeError('sqs:sendMessage parameters must be an object');
  const { QueueUrl, MessageBody, DelaySeconds, MessageGroupId, MessageDeduplicationId, MessageAttributes } = input;
  if (typeof QueueUrl !== 'string') throw runtimeError('sqs:sendMessage needs a string QueueUrl');
  if (MessageBody === undefined || MessageBody === null) throw runtimeError('sqs:sendMessage needs a MessageBody');
  const message: SendMessageCommandInput = {
    QueueUrl,
    // Step Functions serializes a JSON MessageBody; a string is sent as is.
    MessageBody: typeof MessageBody === 'string' ? MessageBody : JSON.stringify(MessageBody),
  };
  if (typeof DelaySeconds === 'number') message.DelaySeconds = DelaySeconds;
  if (typeof MessageGroupId === 'string') message.MessageGroupId = MessageGroupId;
  if (typeof MessageDeduplicationId === 'string') message.MessageDeduplicationId = MessageDeduplicationId;
  if (isRecord(MessageAttributes)) message.MessageAttributes = toMessageAttributes(MessageAttributes);
  if (isRecord(input.MessageSystemAttributes)) {
    message.MessageSystemAttributes = toMessageAttributes(input.MessageSystemAttributes);
  }
  return message;
}

/** `{Name: {DataType, StringValue | BinaryValue(base64)}}` as written in ASL, in the SDK's shape. */
function toMessageAttributes(attributes: Record<string, unknown>): Record<string, MessageAttributeValue> {
  const converted: Record<string, MessageAttributeValue> = {};
  for (const [name, attribute] of Object.entries(attributes)) {
    if (!isRecord(attribute) || typeof attribute.DataType !== 'string') {
      throw new TaskFailure('States.Runtime', `Message attribute ${name} needs a DataType`, { terminal: true });
    }
    converted[name] = {
      DataType: attribute.DataType,
      ...(typeof attribute.StringValue === 'string' ? { StringValue: attribute.StringValue } : {}),
      ...(typeof attribute.BinaryValue === 'string' ? { BinaryValue: Buffer.from(attribute.BinaryValue, 'base64') } : {}),
    };
  }
  return converted;
}

function outcomeOf(error: unknown): Outcome {
  if (error instanceof ExecutionTimeoutError) return { status: 'TIMED_OUT', error: 'States.Timeout' };
  if (error instanceof ExecutionAbortedError) return { status: 'ABORTED' };
  if (error instanceof ExecutionError && error.cause instanceof Error) {
    const failure = error.cause;
    // A Fail state without Error/Cause: the interpreter fills in defaults that AWS does not report.
    const fromFailState = !(failure instanceof TaskFailure);
    return {
      status: 'FAILED',
      error: fromFailState && failure.name === 'FailStateError' ? undefined : failure.name,
      cause: fromFailState && failure.message === FAIL_STATE_DEFAULT_CAUSE ? undefined : failure.message,
    };
  }
  return { status: 'FAILED', error: 'States.Runtime', cause: error instanceof Error ? error.message : String(error) };
}

// --- API helpers ------------------------------------------------------------------------------

function parseStateMachineArn(arn: string): { partition: string; region: string; account: string; name: string } {
  const match = /^arn:(aws[a-z-]*):states:([a-z0-9-]+):(\d{12}):stateMachine:([^:]+)$/.exec(arn);
  if (!match) throw new Error(`Not a state machine ARN: ${arn}`);
  const [, partition, region, account, name] = match;
  return { partition, region, account, name };
}

/** AWS's rules for execution names; returns what is wrong, if anything. */
function executionNameProblem(name: string): string | undefined {
  if (name.length < 1 || name.length > 80) return 'must be 1 to 80 characters';
  if (/[\s<>{}[\]?*"#%\\^|~`$&,;:/]/u.test(name)) return 'must not contain whitespace, brackets, wildcards or "#%\\^|~`$&,;:/';
  if (/[\u0000-\u001f\u007f-\u009f]/u.test(name)) return 'must not contain control characters';
  if (/[\ud800-\udfff\ufffe\uffff]/.test(name)) return 'must not contain surrogates or invalid characters';
  return undefined;
}

function lambdaFunctionName(resource: string): string {
  const match = /^arn:aws[a-z-]*:lambda:[^:]+:\d{12}:function:([^:]+)/.exec(resource);
  return match ? match[1] : resource;
}

function describe(record: ExecutionRecord): Record<string, unknown> {
  return {
    executionArn: record.executionArn,
    stateMachineArn: record.stateMachineArn,
    name: record.name,
    status: record.status,
    startDate: epochSeconds(record.startDate),
    ...(record.stopDate ? { stopDate: epochSeconds(record.stopDate) } : {}),
    input: record.input,
    inputDetails: { included: true },
    ...(record.output !== undefined ? { output: record.output, outputDetails: { included: true } } : {}),
    ...(record.error !== undefined ? { error: record.error } : {}),
    ...(record.cause !== undefined ? { cause: record.cause } : {}),
  };
}

function summarize(record: ExecutionRecord): ExecutionSummary {
  const summary: ExecutionSummary = {
    executionArn: record.executionArn,
    stateMachineArn: record.stateMachineArn,
    name: record.name,
    status: record.status,
    input: record.input,
    startDate: record.startDate,
  };
  if (record.output !== undefined) summary.output = record.output;
  if (record.error !== undefined) summary.error = record.error;
  if (record.cause !== undefined) summary.cause = record.cause;
  if (record.stopDate !== undefined) summary.stopDate = record.stopDate;
  return summary;
}

function epochSeconds(date: Date): number {
  return date.getTime() / 1000;
}

function encodeNextToken(offset: number): string {
  return Buffer.from(JSON.stringify({ offset })).toString('base64');
}

function decodeNextToken(token: string | undefined): number {
  if (token === undefined) return 0;
  try {
    const decoded: unknown = JSON.parse(Buffer.from(token, 'base64').toString('utf8'));
    if (isRecord(decoded) && typeof decoded.offset === 'number') return decoded.offset;
  } catch (error: unknown) {
    throw new ApiError('InvalidToken', `Invalid nextToken: ${String(error)}`);
  }
  throw new ApiError('InvalidToken', 'Invalid nextToken');
}

function requiredString(body: Record<string, unknown>, field: string): string {
  const value = body[field];
  if (typeof value !== 'string' || value === '') {
    throw new ApiError('ValidationException', `1 validation error detected: Value at '${field}' must be a non-empty string`);
  }
  return value;
}

function optionalString(body: Record<string, unknown>, field: string): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') {
    throw new ApiError('ValidationException', `1 validation error detected: Value at '${field}' must be a string`);
  }
  return value;
}

function parseJsonPayload(text: string, errorCode: string, field: string): JSONValue {
  if (Buffer.byteLength(text, 'utf8') > MAX_PAYLOAD_BYTES) {
    throw new ApiError(errorCode, `Invalid ${field}: larger than ${MAX_PAYLOAD_BYTES} bytes`);
  }
  try {
    return parseJson(text);
  } catch (error: unknown) {
    throw new ApiError(errorCode, `Invalid ${field}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function parseRequestBody(text: string): Record<string, unknown> {
  let body: unknown;
  try {
    body = text === '' ? {} : JSON.parse(text);
  } catch (error: unknown) {
    throw new ApiError('SerializationException', `Request body is not JSON: ${String(error)}`);
  }
  if (!isRecord(body)) throw new ApiError('SerializationException', 'Request body must be a JSON object');
  return body;
}

async function readBody(request: IncomingMessage, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<unknown>) {
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += bytes.length;
    if (size > limit) throw new ApiError('ValidationException', `Request body larger than ${limit} bytes`);
    chunks.push(bytes);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function reply(response: ServerResponse, status: number, payload: unknown, requestId: string, errorType?: string): void {
  const text = JSON.stringify(payload);
  response.writeHead(status, {
    'content-type': 'application/x-amz-json-1.0',
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': requestId,
    ...(errorType ? { 'x-amzn-errortype': errorType } : {}),
  });
  response.end(text);
}

// --- small utilities --------------------------------------------------------------------------

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseJson(text: string): JSONValue {
  // JSON.parse yields exactly the JSON value domain the interpreter's JSONValue describes.
  return JSON.parse(text) as JSONValue;
}

function cloneJson(value: JSONValue): unknown {
  // Also freezes live `$$.State` getter objects into plain values, as a Lambda payload would.
  return JSON.parse(JSON.stringify(value) ?? 'null');
}
