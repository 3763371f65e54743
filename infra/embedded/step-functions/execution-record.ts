/**
 * One execution as this server keeps it, and the pure functions over it: what
 * DescribeExecution and ListExecutions show, what is stored on disk, and whether AWS's rules
 * allow a redrive now. No I/O here; executions.ts runs them.
 */
import { RETENTION_MS, EXECUTION_RECORD_VERSION, type ExecutionProgress, type StoredExecution } from './execution-store.js';
import { epochSeconds } from './http-protocol.js';
import type { ExecutionSummary } from './local-step-functions.js';
import type { TokenHolder } from './task-tokens.js';

/** AWS refuses a redrive once the history has this many events. */
const REDRIVE_HISTORY_EVENT_LIMIT = 24_999;
/** A Standard execution may stay open a year, redrives included. */
const MAX_OPEN_MS = 365 * 24 * 3600 * 1000;

/** One execution with what it needs while it runs. */
export interface ExecutionRecord extends ExecutionSummary, TokenHolder {
  /** aborted when the execution ends in any way: pending Task attempts reject at once */
  ended: AbortController;
  abortInterpreter(): void;
  /** the top-level state being evaluated (or, once ended, the last one) and its input: where a restart continues */
  current?: ExecutionProgress;
  /** whether `onExecutionEnded` has completed for this end (else a restart delivers it again) */
  notified?: boolean;
  /** history events so far, roughly as AWS counts them (state entered/exited, retries, …) */
  historyEvents: number;
  /** which run of the interpreter is current: a redrive starts a new one, late results of the old are ignored */
  generation: number;
}

export function parseStateMachineArn(arn: string): { partition: string; region: string; account: string; name: string } {
  const match = /^arn:(aws[a-z-]*):states:([a-z0-9-]+):(\d{12}):stateMachine:([^:]+)$/.exec(arn);
  if (!match) throw new Error(`Not a state machine ARN: ${arn}`);
  const [, partition, region, account, name] = match;
  return { partition, region, account, name };
}

/** AWS's rules for execution names; returns what is wrong, if anything. */
export function executionNameProblem(name: string): string | undefined {
  if (name.length < 1 || name.length > 80) return 'must be 1 to 80 characters';
  if (/[\s<>{}[\]?*"#%\\^|~`$&,;:/]/u.test(name)) return 'must not contain whitespace, brackets, wildcards or "#%\\^|~`$&,;:/';
  // eslint-disable-next-line no-control-regex -- control characters are exactly what AWS refuses in a name
  if (/[\u0000-\u001f\u007f-\u009f]/u.test(name)) return 'must not contain control characters';
  if (/[\ud800-\udfff\ufffe\uffff]/.test(name)) return 'must not contain surrogates or invalid characters';
  return undefined;
}

export function describe(record: ExecutionRecord): Record<string, unknown> {
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
    redriveCount: record.redriveCount,
    ...(record.redriveDate ? { redriveDate: epochSeconds(record.redriveDate) } : {}),
    ...redriveStatus(record),
  };
}

function redriveStatus(record: ExecutionRecord): Record<string, unknown> {
  const reason = notRedrivableReason(record, new Date());
  return reason === undefined ? { redriveStatus: 'REDRIVABLE' } : { redriveStatus: 'NOT_REDRIVABLE', redriveStatusReason: reason };
}

export function summarize(record: ExecutionRecord): ExecutionSummary {
  const summary: ExecutionSummary = {
    executionArn: record.executionArn,
    stateMachineArn: record.stateMachineArn,
    name: record.name,
    status: record.status,
    input: record.input,
    startDate: record.startDate,
    redriveCount: record.redriveCount,
  };
  if (record.redriveDate !== undefined) summary.redriveDate = record.redriveDate;
  if (record.output !== undefined) summary.output = record.output;
  if (record.error !== undefined) summary.error = record.error;
  if (record.cause !== undefined) summary.cause = record.cause;
  if (record.stopDate !== undefined) summary.stopDate = record.stopDate;
  return summary;
}

export function isTopLevelState(definition: Record<string, unknown>, name: string): boolean {
  const states = definition.States;
  return typeof states === 'object' && states !== null && Object.hasOwn(states, name);
}

export function toStored(record: ExecutionRecord): StoredExecution {
  return {
    version: EXECUTION_RECORD_VERSION,
    executionArn: record.executionArn,
    stateMachineArn: record.stateMachineArn,
    name: record.name,
    status: record.status,
    input: record.input,
    startDate: record.startDate.toISOString(),
    ...(record.stopDate ? { stopDate: record.stopDate.toISOString() } : {}),
    ...(record.output !== undefined ? { output: record.output } : {}),
    ...(record.error !== undefined ? { error: record.error } : {}),
    ...(record.cause !== undefined ? { cause: record.cause } : {}),
    ...(record.current ? { current: record.current } : {}),
    ...(record.notified !== undefined ? { notified: record.notified } : {}),
    redriveCount: record.redriveCount,
    ...(record.redriveDate ? { redriveDate: record.redriveDate.toISOString() } : {}),
    historyEvents: record.historyEvents,
  };
}

/** Why RedriveExecution would refuse this execution now (AWS's `redriveStatusReason`), if it would. */
export function notRedrivableReason(record: ExecutionRecord, now: Date): string | undefined {
  if (record.status === 'RUNNING' || record.status === 'SUCCEEDED') return `Execution is ${record.status} and cannot be redriven`;
  if (record.historyEvents >= REDRIVE_HISTORY_EVENT_LIMIT) return 'Execution history event limit exceeded';
  if (now.getTime() - record.startDate.getTime() > MAX_OPEN_MS) return 'Execution has exceeded the max execution time';
  if (record.stopDate && now.getTime() - record.stopDate.getTime() > RETENTION_MS) return 'Execution redrivable period exceeded';
  return undefined;
}
