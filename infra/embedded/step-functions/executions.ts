/**
 * The executions of one state machine: StartExecution runs the definition in the interpreter
 * (aws-local-stepfunctions), each Task state through the Lambda or SQS adapter; the lifecycle
 * (RUNNING → SUCCEEDED / FAILED / TIMED_OUT / ABORTED, ended exactly once), StopExecution,
 * DescribeExecution, ListExecutions, and the `onExecutionEnded` notification (what the
 * EventBridge rule does on AWS).
 */
import { randomUUID } from 'node:crypto';
import { StateMachine, type RunOptions, type StateMachineDefinition } from 'aws-local-stepfunctions';
import { HASH_ALGORITHMS, hashText, instrumentMachine, planTasks, tokenHashKey, validateDefinition, type TaskPlan } from './definition.js';
import { ApiError, decodeNextToken, encodeNextToken, epochSeconds, optionalString, parseJsonPayload, requiredString } from './http-protocol.js';
import type { JSONValue, TaskHandlers } from './json.js';
import { invokeLambdaTask } from './lambda-task.js';
import type { ExecutionEnded, ExecutionSummary, LocalStepFunctionsOptions } from './local-step-functions.js';
import { sendAndWaitForToken } from './sqs-task.js';
import { StateTracker } from './state-tracker.js';
import { ExecutionEndedError, outcomeOf, settleWhenEnded, type Outcome } from './task-failure.js';
import { TaskTokens, claimUnclaimedToken, peekToken, type TokenHolder } from './task-tokens.js';

type RunContext = NonNullable<RunOptions['context']>;

const STATUSES: ReadonlySet<string> = new Set(['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED']);

/** One execution with what it needs while it runs. */
export interface ExecutionRecord extends ExecutionSummary, TokenHolder {
  /** aborted when the execution ends in any way: pending Task attempts reject at once */
  ended: AbortController;
  abortInterpreter(): void;
}

/** Every execution of the state machine, and the API operations on them. */
export class Executions {
  readonly tokens = new TaskTokens();
  private readonly definition: Record<string, unknown>;
  private readonly plans: Map<string, TaskPlan>;
  private readonly stateMachineArn: string;
  private readonly machineName: string;
  private readonly executionArnPrefix: string;
  private readonly records = new Map<string, ExecutionRecord>();
  private readonly callbacks = new Set<Promise<void>>();
  private idleWaiters: Array<() => void> = [];
  private running = 0;
  private closed = false;

  constructor(private readonly options: LocalStepFunctionsOptions) {
    const arn = parseStateMachineArn(options.stateMachineArn);
    this.stateMachineArn = options.stateMachineArn;
    this.machineName = arn.name;
    this.executionArnPrefix = `arn:${arn.partition}:states:${arn.region}:${arn.account}:execution:${arn.name}`;
    this.definition = validateDefinition(options.definition);
    this.plans = planTasks(this.definition, options.lambdas);
  }

  /** Aborts the running executions (without `onExecutionEnded`) and waits for the notifications under way. */
  async close(): Promise<void> {
    this.closed = true;
    for (const record of this.records.values()) {
      if (record.status !== 'RUNNING') continue;
      this.finish(record, { status: 'ABORTED', cause: 'The embedded Step Functions server was closed' });
      record.abortInterpreter();
    }
    await Promise.allSettled([...this.callbacks]);
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

  // --- API operations -------------------------------------------------------------------------

  startExecution(body: Record<string, unknown>): Record<string, unknown> {
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

  describeExecution(body: Record<string, unknown>): Record<string, unknown> {
    return describe(this.recordOf(requiredString(body, 'executionArn')));
  }

  stopExecution(body: Record<string, unknown>): Record<string, unknown> {
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

  listExecutions(body: Record<string, unknown>): Record<string, unknown> {
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

  // --- lifecycle ------------------------------------------------------------------------------

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
    this.tokens.releaseAll(record);
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
    const { beforeTask, sqs, runAsService } = this.options;
    for (const [stateName, plan] of this.plans) {
      handlers[stateName] = (input: JSONValue): Promise<JSONValue> => {
        // The interpreter evaluates Parameters and calls this synchronously, so the token that
        // Parameters just read is the one this attempt claims.
        const token = claimUnclaimedToken(record);
        tracker.countAttempt(stateName);
        if (record.status !== 'RUNNING') return Promise.reject(new ExecutionEndedError());
        const attempt =
          plan.kind === 'lambda'
            ? invokeLambdaTask({ record, stateName, plan, input, beforeTask })
            : sendAndWaitForToken({ record, stateName, plan, input, token, tokens: this.tokens, sqs, runAsService, beforeTask });
        return settleWhenEnded(record.ended.signal, attempt);
      };
    }
    return handlers;
  }
}

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

