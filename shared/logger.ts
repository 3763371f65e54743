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

/**
 * Secrets no line may carry, as a safety net under the call sites (which must not log them in
 * the first place): a task token lets its reader finish the task (SendTask* has no
 * resource-level IAM), and a bearer token opens the export service. Fields with these names are
 * replaced whole; in text (a message, an error, a quoted body) the value after the name is.
 */
const SECRET_FIELD = /^(task_?token|authorization|export_?auth_?token)$/i;
const SECRET_IN_TEXT = [
  /(task_?token\\?["']?\s*[:=]\s*\\?["']?)[A-Za-z0-9+/=_-]{16,}/gi,
  /(Bearer\s+)[A-Za-z0-9+/=._~-]{8,}/g,
];
export const REDACTED = '[redacted]';

function redactText(text: string): string {
  let out = text;
  for (const pattern of SECRET_IN_TEXT) out = out.replace(pattern, `$1${REDACTED}`);
  return out;
}

function redact(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactText(value);
  if (value instanceof Error) return { name: value.name, message: redactText(value.message), stack: value.stack === undefined ? undefined : redactText(value.stack) };
  if (depth >= 6 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  // Only plain objects are rebuilt: a Date, a Buffer or a class instance serializes as it always did.
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_FIELD.test(k) ? REDACTED : redact(v, depth + 1);
  return out;
}

export function createLogger(base: LogFields = {}, minLevel: LogLevel = (process.env.LOG_LEVEL as LogLevel) ?? 'info'): Logger {
  const threshold = LEVELS[minLevel] ?? LEVELS.info;
  const emit = (level: LogLevel, message: string, fields?: LogFields) => {
    if (LEVELS[level] < threshold) return;
    const line: LogLine = { time: new Date().toISOString(), level, message: redactText(message), ...base };
    if (fields) for (const [k, v] of Object.entries(fields)) line[k] = SECRET_FIELD.test(k) ? REDACTED : redact(v);
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
