/**
 * Structured JSON-line logs. Every line of a task carries `task_id`, `creator_id`, `video_id`
 * and `stage`, so lines of concurrent tasks never mix (the old system's colliding log files).
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;
export interface LogLine extends LogFields {
  time: string;
  level: LogLevel;
  message: string;
}
export type LogSink = (line: LogLine) => void;

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
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

function serializeError(value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack };
  return value;
}

export function createLogger(base: LogFields = {}, minLevel: LogLevel = (process.env.LOG_LEVEL as LogLevel) ?? 'info'): Logger {
  const threshold = LEVELS[minLevel] ?? LEVELS.info;
  const emit = (level: LogLevel, message: string, fields?: LogFields) => {
    if (LEVELS[level] < threshold) return;
    const line: LogLine = { time: new Date().toISOString(), level, message, ...base };
    if (fields) for (const [k, v] of Object.entries(fields)) line[k] = serializeError(v);
    if (writeToStdout) process.stdout.write(`${JSON.stringify(line)}\n`);
    for (const sink of sinks) sink(line);
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger({ ...base, ...fields }, minLevel),
  };
}

/** The fields every line of a task carries. */
export function taskLogFields(task: { task_id: string; creator_id?: string; video_id?: string }, stage: string): LogFields {
  return { task_id: task.task_id, creator_id: task.creator_id, video_id: task.video_id, stage };
}
