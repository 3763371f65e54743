/**
 * JSON values as the interpreter (aws-local-stepfunctions) types them, and the Step Functions
 * payload quota that every input, output and task result must respect.
 */
import type { RunOptions } from 'aws-local-stepfunctions';

type Overrides = NonNullable<RunOptions['overrides']>;
/** The `taskResourceLocalHandlers` table of the interpreter, keyed by state name. */
export type TaskHandlers = NonNullable<Overrides['taskResourceLocalHandlers']>;
/** A JSON value as the interpreter passes it to (and expects back from) a Task handler. */
export type JSONValue = Parameters<TaskHandlers[string]>[0];

/** Step Functions' payload quota (input, output, task results). */
export const MAX_PAYLOAD_BYTES = 262_144;

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function parseJson(text: string): JSONValue {
  // JSON.parse yields exactly the JSON value domain the interpreter's JSONValue describes.
  return JSON.parse(text) as JSONValue;
}

export function cloneJson(value: JSONValue): unknown {
  // Also freezes live `$$.State` getter objects into plain values, as a Lambda payload would.
  return JSON.parse(JSON.stringify(value) ?? 'null');
}
