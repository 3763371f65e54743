import { Logger as PowertoolsLogger, type LogItem } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import { readSetting } from './settings.js';

/**
 * Structured JSON-line logs, written by Powertools for AWS Lambda's Logger (its line format:
 * `level`, `message`, `timestamp`, `service`, and on Lambda `cold_start`, `function_request_id`,
 * `function_name`…, `xray_trace_id`; errors as `{name, location, message, stack, cause}`).
 * Every line of a task carries `task_id`, `creator_id`, `video_id` and `stage`, so lines of
 * concurrent tasks never mix (the old system's colliding log files).
 *
 * Our small API (`createLogger(fields)`, `log.child()`, `addLogSink`) stays in front of it: ~100
 * call sites log with per-task fields, and the embedded stack collects every line of a task into
 * its `log.jsonl` through a sink, which Powertools has no notion of. One Powertools logger serves
 * the process, so the Lambda context added at each invocation ({@link addLambdaContext}) reaches
 * the lines of loggers created at cold start too.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;
/** One line as written (and as a sink receives it, parsed back from the written JSON). */
export interface LogLine extends LogFields {
  level: string;
  message: string;
  timestamp: string;
}
export type LogSink = (line: LogLine) => void;

const sinks = new Set<LogSink>();
let writeToStdout = true;

/** Adds a consumer of every log line (the embedded stack keeps each task's lines with its artifacts). */
export function addLogSink(sink: LogSink): () => void {
  sinks.add(sink);
  return () => sinks.delete(sink);
}

/** Turns the stdout copy off (tests that would otherwise print thousands of lines). */
export function setStdoutLogging(enabled: boolean): void {
  writeToStdout = enabled;
}

export function isStdoutLogging(): boolean {
  return writeToStdout;
}

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** a logger whose lines also carry `fields` */
  child(fields: LogFields): Logger;
}

/**
 * Secrets no line may carry, as a safety net under the call sites (which must not log them in
 * the first place): a task token lets its reader finish the task (SendTask* has no
 * resource-level IAM), and a bearer token opens the export service. Fields with these names are
 * replaced whole; in text (a message, an error, a quoted body) the value after the name is.
 * Applied while the line is serialized, so it reaches every string, error stacks and causes too.
 */
const SECRET_FIELD = /^(task_?token|authorization|export_?auth_?token)$/i;
const SECRET_IN_TEXT = [/(task_?token\\?["']?\s*[:=]\s*\\?["']?)[A-Za-z0-9+/=_-]{16,}/gi, /(Bearer\s+)[A-Za-z0-9+/=._~-]{8,}/g];
export const REDACTED = '[redacted]';

function redactText(text: string): string {
  let out = text;
  for (const pattern of SECRET_IN_TEXT) out = out.replace(pattern, `$1${REDACTED}`);
  return out;
}

function redactingReplacer(key: string, value: unknown): unknown {
  if (key && SECRET_FIELD.test(key)) return REDACTED;
  return typeof value === 'string' ? redactText(value) : value;
}

/**
 * Powertools' Logger with one change: a line goes to our stdout switch and to our sinks, from
 * the same JSON text (so a sink sees exactly what CloudWatch sees). All levels go to stdout, as
 * they always did here (Powertools' own console sends warnings and errors to stderr).
 */
class PipelineLogger extends PowertoolsLogger {
  protected override printLog(_logLevel: number, log: LogItem): void {
    log.prepareForPrint();
    const text = JSON.stringify(log.getAttributes(), this.getJsonReplacer());
    if (writeToStdout) process.stdout.write(`${text}\n`);
    if (sinks.size === 0) return;
    const line = JSON.parse(text) as LogLine;
    for (const sink of sinks) sink(line);
  }
}

const root = new PipelineLogger({
  serviceName: process.env.POWERTOOLS_SERVICE_NAME || 'reel-pipeline',
  // LOG_LEVEL through the settings schema (unknown levels mean info), read once when the module
  // loads. On Lambda, a level set by the function's advanced logging controls
  // (`AWS_LAMBDA_LOG_LEVEL`) wins, as Powertools decides.
  logLevel: readSetting('logLevel').toUpperCase() as Uppercase<LogLevel>,
  jsonReplacerFn: redactingReplacer,
});

/**
 * Adds the Lambda invocation's context (request id, function name, cold start) to every line
 * written until the next invocation. Called by {@link withLambdaContext}; the embedded stack runs
 * many handlers at once in one process and adds none.
 */
export function addLambdaContext(context: Context): void {
  root.addContext(context);
}

/**
 * Wraps a Lambda handler so that its lines carry the invocation's request id and cold start —
 * what Powertools' `injectLambdaContext` middleware does, without middy.
 *
 * @example
 * export const handler = withLambdaContext(createDraftHandler(rt));
 */
export function withLambdaContext<E, R>(handler: (event: E, context: Context) => Promise<R>): (event: E, context: Context) => Promise<R> {
  return (event, context) => {
    // A caller without a context (a test calling the export directly) logs without one.
    if (context) addLambdaContext(context);
    return handler(event, context);
  };
}

/** A logger whose every line carries `base` (a task's ids and stage, usually). */
export function createLogger(base: LogFields = {}): Logger {
  // Fields are passed with each line rather than set on a Powertools child logger: the one root
  // logger holds the invocation's context, and a child made at cold start would miss it.
  const emit = (level: LogLevel, message: string, fields?: LogFields) => root[level](message, fields ? { ...base, ...fields } : base);
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger({ ...base, ...fields }),
  };
}

/** The fields every line of a task carries. */
export function taskLogFields(task: { task_id: string; creator_id?: string; video_id?: string }, stage: string): LogFields {
  return { task_id: task.task_id, creator_id: task.creator_id, video_id: task.video_id, stage };
}
