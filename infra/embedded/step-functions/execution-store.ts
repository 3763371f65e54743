/**
 * Executions on disk, so that they outlive the process: one JSON file per execution under the
 * store's directory, rewritten (write + rename, so a kill leaves the old or the new file, never
 * half of one) when the execution enters a top-level state and when it ends. What a file holds
 * is what it takes to continue: the state being evaluated and that state's input, plus what
 * DescribeExecution shows.
 *
 *   StartExecution ─▶ {status RUNNING, current: {state: Start, input}}
 *   each state entered ─▶ current = {state, input}          (a kill here: that state runs again)
 *   end ─▶ {status SUCCEEDED | FAILED | …, stopDate}        (a kill after this: nothing runs again)
 *
 * A file that cannot be read, or was written by another version, is moved aside as `.unreadable`
 * and reported, so one bad file cannot stop the stack from starting (no crash loop).
 */
import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExecutionStatusName } from './local-step-functions.js';
import { isRecord, type JSONValue } from './json.js';

/** Bumped whenever the file's shape changes; files of other versions are not resumed. */
export const EXECUTION_RECORD_VERSION = 1;

/** The state an execution was evaluating, and that state's raw input (before InputPath/Parameters). */
export interface ExecutionProgress {
  state: string;
  input: JSONValue;
}

/** One execution as stored. Dates are ISO strings. */
export interface StoredExecution {
  version: typeof EXECUTION_RECORD_VERSION;
  executionArn: string;
  stateMachineArn: string;
  name: string;
  status: ExecutionStatusName;
  input: string;
  startDate: string;
  stopDate?: string;
  output?: string;
  error?: string;
  cause?: string;
  /** the state being evaluated (once ended: the last one) and its input: where to continue */
  current?: ExecutionProgress;
  redriveCount?: number;
  redriveDate?: string;
  /** history events so far (AWS refuses a redrive past its limit) */
  historyEvents?: number;
  /** once ended: whether `onExecutionEnded` completed (else the next start delivers it) */
  notified?: boolean;
}

/** A file that was not loaded, and why. */
export interface UnreadableExecution {
  /** the execution name the file is named after */
  name: string;
  reason: string;
}

/** What {@link ExecutionStore.load} found. */
export interface LoadedExecutions {
  executions: StoredExecution[];
  unreadable: UnreadableExecution[];
  pruned: number;
}

const SUFFIX = '.json';
/** Step Functions keeps (and redrives) an ended execution for 14 days. */
export const RETENTION_MS = 14 * 24 * 3600 * 1000;

/** The directory of persisted executions of one embedded Step Functions server. */
export class ExecutionStore {
  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  /** Writes the execution's file atomically (same directory, then rename). */
  save(execution: StoredExecution): void {
    const file = this.fileOf(execution.name);
    const temporary = `${file}.${process.pid}.tmp`;
    writeFileSync(temporary, JSON.stringify(execution));
    renameSync(temporary, file);
  }

  /**
   * Every stored execution, oldest first. Ended executions that stopped more than 14 days before
   * `now` are deleted; unreadable files are moved aside and listed.
   */
  load(now: Date): LoadedExecutions {
    const executions: StoredExecution[] = [];
    const unreadable: UnreadableExecution[] = [];
    let pruned = 0;
    for (const entry of readdirSync(this.dir)) {
      const file = join(this.dir, entry);
      if (entry.endsWith('.tmp')) {
        // A write the kill interrupted; the previous file (if any) is still in place.
        rmSync(file, { force: true });
        continue;
      }
      if (!entry.endsWith(SUFFIX)) continue;
      const name = entry.slice(0, -SUFFIX.length);
      const parsed = parseStoredExecution(readFileSync(file, 'utf8'));
      if (typeof parsed === 'string') {
        renameSync(file, `${file}.unreadable`);
        unreadable.push({ name, reason: parsed });
        continue;
      }
      if (parsed.stopDate !== undefined && now.getTime() - Date.parse(parsed.stopDate) > RETENTION_MS) {
        rmSync(file, { force: true });
        pruned += 1;
        continue;
      }
      executions.push(parsed);
    }
    executions.sort((a, b) => Date.parse(a.startDate) - Date.parse(b.startDate));
    return { executions, unreadable, pruned };
  }

  private fileOf(name: string): string {
    // Execution names exclude `/` and control characters (AWS's naming rules, checked at start).
    return join(this.dir, `${name}${SUFFIX}`);
  }
}

/** The stored execution, or what is wrong with the text. */
function parseStoredExecution(text: string): StoredExecution | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error: unknown) {
    return `not JSON (${error instanceof Error ? error.message : String(error)})`;
  }
  if (!isRecord(value)) return 'not a JSON object';
  if (value.version !== EXECUTION_RECORD_VERSION) {
    return `written by another version (record version ${JSON.stringify(value.version) ?? 'missing'}, this version reads ${EXECUTION_RECORD_VERSION})`;
  }
  for (const field of ['executionArn', 'stateMachineArn', 'name', 'status', 'input', 'startDate'] as const) {
    if (typeof value[field] !== 'string') return `field ${field} is missing`;
  }
  if (Number.isNaN(Date.parse(value.startDate as string))) return 'startDate is not a date';
  if (value.status === 'RUNNING') {
    const current = value.current;
    if (!isRecord(current) || typeof current.state !== 'string' || !('input' in current)) return 'a running execution without its current state';
  }
  return value as unknown as StoredExecution;
}
