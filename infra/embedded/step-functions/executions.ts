/**
 * The executions of one state machine: StartExecution runs the definition in the interpreter
 * (aws-local-stepfunctions), each Task state through the Lambda or SQS adapter; the lifecycle
 * (RUNNING → SUCCEEDED / FAILED / TIMED_OUT / ABORTED, ended exactly once), StopExecution,
 * DescribeExecution, ListExecutions, and the `onExecutionEnded` notification (what the
 * EventBridge rule does on AWS). With a store, every execution is on disk and `resume()`
 * continues the interrupted ones from the state they were in (see execution-store.ts).
 */
import { randomUUID } from 'node:crypto';
import { ExecutionTimeoutError, StateMachine, type RunOptions, type StateMachineDefinition } from 'aws-local-stepfunctions';
import { HASH_ALGORITHMS, hashText, instrumentMachine, planTasks, tokenHashKey, validateDefinition, type TaskPlan } from './definition.js';
import { ApiError, decodeNextToken, encodeNextToken, epochSeconds, optionalString, parseJsonPayload, requiredString } from './http-protocol.js';
import type { JSONValue, TaskHandlers } from './json.js';
import { invokeLambdaTask } from './lambda-task.js';
import type { ExecutionEnded, ExecutionSummary, LocalStepFunctionsOptions } from './local-step-functions.js';
import { sendAndWaitForToken } from './sqs-task.js';
import { StateTracker } from './state-tracker.js';
import { ExecutionStore, EXECUTION_RECORD_VERSION, type ExecutionProgress, type StoredExecution } from './execution-store.js';
import {
  describe,
  executionNameProblem,
  isTopLevelState,
  notRedrivableReason,
  parseStateMachineArn,
  summarize,
  toStored,
  type ExecutionRecord,
} from './execution-record.js';
import { ExecutionEndedError, outcomeOf, settleWhenEnded, type Outcome } from './task-failure.js';
import { TaskTokens, claimUnclaimedToken, peekToken } from './task-tokens.js';

type RunContext = NonNullable<RunOptions['context']>;
type EventLogs = ReturnType<StateMachine['run']>['eventLogs'];

const STATUSES: ReadonlySet<string> = new Set(['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED']);
/** Why an execution that was running when the process stopped did not continue. */
export const UNREADABLE_RECORD_ERROR = 'ExecutionRecordUnreadable';

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
  private readonly store: ExecutionStore | undefined;

  constructor(private readonly options: LocalStepFunctionsOptions) {
    this.store = options.persistDir === undefined ? undefined : new ExecutionStore(options.persistDir);
    const arn = parseStateMachineArn(options.stateMachineArn);
    this.stateMachineArn = options.stateMachineArn;
    this.machineName = arn.name;
    this.executionArnPrefix = `arn:${arn.partition}:states:${arn.region}:${arn.account}:execution:${arn.name}`;
    this.definition = validateDefinition(options.definition);
    this.plans = planTasks(this.definition, options.lambdas);
  }

  /**
   * Loads the stored executions: ended ones are listed again (and their `onExecutionEnded`
   * delivered if the process stopped before it completed); running ones continue at the state
   * they were in, with that state's input and what is left of the execution timeout. A record
   * that cannot be read ends its execution FAILED with `ExecutionRecordUnreadable` and the reason.
   * Resolves once the ends delivered again have been handled (so every ended execution is
   * settled when the server starts); the continued executions keep running.
   */
  async resume(now = new Date()): Promise<{ resumed: number; pruned: number; unreadable: number }> {
    if (!this.store) return { resumed: 0, pruned: 0, unreadable: 0 };
    const loaded = this.store.load(now);
    let resumed = 0;
    const deliveries: Array<Promise<void>> = [];
    for (const stored of loaded.executions) {
      const record = this.restore(stored);
      if (stored.status !== 'RUNNING') {
        if (!stored.notified) deliveries.push(this.notifyEnded(record));
        continue;
      }
      const current = stored.current;
      if (!current || !isTopLevelState(this.definition, current.state)) {
        this.running += 1;
        this.finish(record, {
          status: 'FAILED',
          error: UNREADABLE_RECORD_ERROR,
          cause: `The execution could not continue after a restart: state ${JSON.stringify(current?.state)} is not in this definition.`,
        });
        continue;
      }
      this.run(record, current);
      resumed += 1;
    }
    for (const { name, reason } of loaded.unreadable) {
      if (executionNameProblem(name)) continue;
      const record = this.restore({
        version: EXECUTION_RECORD_VERSION,
        executionArn: `${this.executionArnPrefix}:${name}`,
        stateMachineArn: this.stateMachineArn,
        name,
        status: 'RUNNING',
        input: '{}',
        startDate: now.toISOString(),
      });
      this.running += 1;
      this.finish(record, {
        status: 'FAILED',
        error: UNREADABLE_RECORD_ERROR,
        cause: `The execution could not continue after a restart: its stored record is unreadable (${reason}).`,
      });
    }
    // The unreadable records' ends are under way in `callbacks`.
    await Promise.allSettled([...deliveries, ...this.callbacks]);
    return { resumed, pruned: loaded.pruned, unreadable: loaded.unreadable.length };
  }

  private restore(stored: StoredExecution): ExecutionRecord {
    const record: ExecutionRecord = {
      executionArn: stored.executionArn,
      stateMachineArn: stored.stateMachineArn,
      name: stored.name,
      status: stored.status,
      input: stored.input,
      startDate: new Date(stored.startDate),
      ended: new AbortController(),
      abortInterpreter: () => undefined,
      tokens: new Set(),
      current: stored.current,
      notified: stored.notified,
      redriveCount: stored.redriveCount ?? 0,
      historyEvents: stored.historyEvents ?? 0,
      generation: 0,
    };
    if (stored.redriveDate !== undefined) record.redriveDate = new Date(stored.redriveDate);
    if (stored.stopDate !== undefined) record.stopDate = new Date(stored.stopDate);
    if (stored.output !== undefined) record.output = stored.output;
    if (stored.error !== undefined) record.error = stored.error;
    if (stored.cause !== undefined) record.cause = stored.cause;
    if (stored.status !== 'RUNNING') record.ended.abort();
    this.records.set(record.executionArn, record);
    return record;
  }

  private save(record: ExecutionRecord): void {
    if (!this.store) return;
    try {
      this.store.save(toStored(record));
    } catch (error: unknown) {
      process.emitWarning(`could not store execution ${record.executionArn}: ${String(error)}`);
    }
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

  /**
   * RedriveExecution with AWS's rules: only a FAILED, TIMED_OUT or ABORTED execution, within 14
   * days of its stop, under the history-event limit and a year of being open. The state that was
   * running when it ended runs again with the input it had; states that finished stay finished;
   * the input and the definition are the same; the execution timeout starts again.
   */
  redriveExecution(body: Record<string, unknown>): Record<string, unknown> {
    const record = this.recordOf(requiredString(body, 'executionArn'));
    if (this.closed) throw new ApiError('ServiceUnavailable', 'The embedded Step Functions server is closing');
    const now = new Date();
    const reason = notRedrivableReason(record, now);
    if (reason !== undefined || !record.current) {
      throw new ApiError('ExecutionNotRedrivable', `Execution cannot be redriven: ${reason ?? 'it has no state to run again'} ('${record.executionArn}')`);
    }
    // Stored by an earlier definition (e.g. one that ended in a state since removed): AWS would
    // redrive it on its own definition version; this server keeps only the current one.
    if (!isTopLevelState(this.definition, record.current.state)) {
      throw new ApiError(
        'ExecutionNotRedrivable',
        `Execution cannot be redriven: the state it ended in (${JSON.stringify(record.current.state)}) is not in this definition ('${record.executionArn}')`,
      );
    }
    record.status = 'RUNNING';
    for (const field of ['output', 'error', 'cause', 'stopDate', 'notified'] as const) delete record[field];
    record.redriveCount += 1;
    record.redriveDate = now;
    record.ended = new AbortController();
    this.run(record, record.current);
    return { redriveDate: epochSeconds(now) };
  }

  listExecutions(body: Record<string, unknown>): Record<string, unknown> {
    this.checkStateMachine(requiredString(body, 'stateMachineArn'));
    const statusFilter = optionalString(body, 'statusFilter');
    if (statusFilter !== undefined && !STATUSES.has(statusFilter) && statusFilter !== 'PENDING_REDRIVE') {
      throw new ApiError('ValidationException', `Value '${statusFilter}' at 'statusFilter' is not a valid execution status`);
    }
    const maxResults = typeof body.maxResults === 'number' && body.maxResults > 0 ? Math.min(body.maxResults, 1000) : 100;
    const offset = decodeNextToken(optionalString(body, 'nextToken'));
    const matching = [...this.records.values()].filter((record) => statusFilter === undefined || record.status === statusFilter).reverse();
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
        redriveCount: record.redriveCount,
        ...(record.redriveDate ? { redriveDate: epochSeconds(record.redriveDate) } : {}),
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
      redriveCount: 0,
      historyEvents: 0,
      generation: 0,
    };
    this.records.set(executionArn, record);
    const startAt = this.definition.StartAt as string;
    this.run(record, { state: startAt, input: parsedInput });
    return record;
  }

  /**
   * Runs the interpreter from `from.state` with `from.input`: the definition's StartAt for a new
   * execution, the interrupted state for a resumed one (what is left of the execution timeout).
   */
  private run(record: ExecutionRecord, from: ExecutionProgress): void {
    this.running += 1;
    record.current = from;
    record.generation += 1;
    const generation = record.generation;
    const tracker = new StateTracker();
    // Validated once in the constructor; the per-execution copy only adds hooks (see instrumentMachine).
    const instrumented: Record<string, unknown> = { ...instrumentMachine(this.definition, tracker), StartAt: from.state };
    if (typeof this.definition.TimeoutSeconds === 'number') {
      // A redrive restarts the execution timeout, as on AWS.
      const since = (record.redriveDate ?? record.startDate).getTime();
      const leftSeconds = this.definition.TimeoutSeconds - (Date.now() - since) / 1000;
      if (leftSeconds <= 0) {
        this.save(record);
        this.finish(record, outcomeOf(new ExecutionTimeoutError()));
        return;
      }
      instrumented.TimeoutSeconds = leftSeconds;
    }
    this.save(record);
    const machine = new StateMachine(instrumented as unknown as StateMachineDefinition, {
      validationOptions: { noValidate: true },
    });
    const run = machine.run(from.input, {
      context: this.contextFor(record, tracker),
      overrides: {
        taskResourceLocalHandlers: this.handlersFor(record, tracker),
        retryIntervalOverrides: this.options.retryIntervalOverrides,
      },
    });
    record.abortInterpreter = run.abort;
    void this.recordProgress(record, generation, run.eventLogs);
    const ended = record.ended;
    run.result.then(
      (output) => {
        if (!ended.signal.aborted) this.finish(record, { status: 'SUCCEEDED', output: JSON.stringify(output) });
      },
      (error: unknown) => {
        if (!ended.signal.aborted) this.finish(record, outcomeOf(error));
      },
    );
  }

  /** Stores the state the execution enters, with its input, while it runs. */
  private async recordProgress(record: ExecutionRecord, generation: number, events: EventLogs): Promise<void> {
    // run() stored the state it starts from with its input: entering that state writes nothing new.
    let startStored = true;
    for await (const event of events) {
      if (record.status !== 'RUNNING' || record.generation !== generation) break;
      record.historyEvents += 1;
      if (event.type !== 'StateEntered' || event.index !== undefined) continue;
      if (!isTopLevelState(this.definition, event.state.name)) continue;
      const first = startStored;
      startStored = false;
      if (first && event.state.name === record.current?.state) continue;
      record.current = { state: event.state.name, input: event.state.input };
      this.save(record);
    }
  }

  /** Ends an execution once: status, tokens, pending attempts, idle waiters, onExecutionEnded. */
  private finish(record: ExecutionRecord, outcome: Outcome): void {
    if (record.status !== 'RUNNING') return;
    Object.assign(record, outcome, { stopDate: new Date() });
    record.ended.abort();
    this.tokens.releaseAll(record);
    this.running -= 1;
    // Closing is the process stopping: the stored execution stays RUNNING and continues at the next start.
    if (!this.closed) {
      record.notified = false;
      this.save(record);
      void this.notifyEnded(record);
    }
    this.settleIdleWaiters();
  }

  /** Calls `onExecutionEnded` once; stores that it completed, so a restart does not deliver it again. */
  private notifyEnded(record: ExecutionRecord): Promise<void> {
    const notify = this.options.onExecutionEnded;
    if (!notify || this.closed || record.status === 'RUNNING' || !record.stopDate) return Promise.resolve();
    const ended: ExecutionEnded = { ...summarize(record), status: record.status, stopDate: record.stopDate };
    const call: Promise<void> = Promise.resolve()
      .then(() => notify(ended))
      .then(
        () => {
          record.notified = true;
          this.save(record);
        },
        (error: unknown) => {
          process.emitWarning(`onExecutionEnded failed for ${record.executionArn}: ${String(error)}`);
        },
      )
      .finally(() => {
        this.callbacks.delete(call);
        this.settleIdleWaiters();
      });
    this.callbacks.add(call);
    return call;
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
      Execution: { Id: record.executionArn, Name: record.name, RedriveCount: record.redriveCount },
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
        const ended = record.ended.signal;
        if (ended.aborted) return Promise.reject(new ExecutionEndedError());
        const attempt =
          plan.kind === 'lambda'
            ? invokeLambdaTask({ record, ended, stateName, plan, input, beforeTask })
            : sendAndWaitForToken({ record, ended, stateName, plan, input, token, tokens: this.tokens, sqs, runAsService, beforeTask });
        return settleWhenEnded(ended, attempt);
      };
    }
    return handlers;
  }
}
