/**
 * The definition as the embedded Step Functions runs it: validated once (asl-validator, as the
 * interpreter does), each Task state planned (a Lambda in-process or an SQS wait for a task
 * token; anything else refused at start-up), and a per-execution copy instrumented with the
 * hooks the interpreter cannot give otherwise (`$$.State`, token hashes, AWS's "no timeout").
 */
import { createHash } from 'node:crypto';
import { StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import { isRecord } from './json.js';
import type { LambdaLike } from './local-step-functions.js';
import type { StateTracker } from './state-tracker.js';

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
/** The algorithms of `States.Hash`, as node:crypto names them. */
export const HASH_ALGORITHMS: Record<string, string> = {
  MD5: 'md5',
  'SHA-1': 'sha1',
  'SHA-256': 'sha256',
  'SHA-384': 'sha384',
  'SHA-512': 'sha512',
};
const TOKEN_HASH_CALL = /States\.Hash\(\s*\$\$\.Task\.Token\s*,\s*'(MD5|SHA-1|SHA-256|SHA-384|SHA-512)'\s*\)/g;

/** How one Task state runs. */
export type TaskPlan =
  { kind: 'lambda'; functionArn: string; handler: LambdaLike; timeoutMs: number } | { kind: 'sqs'; timeoutMs: number; heartbeatMs?: number };

/**
 * asl-validator's verdict per definition text. It compiles its JSON schemas on every call
 * (~0.5 s); the verdict of a given text never changes, so instances can share it safely.
 */
const validationVerdicts = new Map<string, string | null>();

export function validateDefinition(definition: object): Record<string, unknown> {
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
export function planTasks(definition: Record<string, unknown>, lambdas: Record<string, LambdaLike>): Map<string, TaskPlan> {
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
  throw new Error(`State "${name}": Resource ${String(resource)} is neither a function in "lambdas" nor ${SQS_WAIT_FOR_TASK_TOKEN}`);
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
export function instrumentMachine(machine: Record<string, unknown>, tracker: StateTracker): Record<string, unknown> {
  const states: Record<string, unknown> = {};
  for (const [name, state] of Object.entries(isRecord(machine.States) ? machine.States : {})) {
    states[name] = isRecord(state) ? instrumentState(name, state, tracker) : state;
  }
  const statesProxy = new Proxy(states, {
    get(target, key, receiver) {
      if (typeof key === 'string' && Object.hasOwn(target, key)) tracker.enter(key);
      return Reflect.get(target, key, receiver) as unknown;
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
        return Reflect.get(target, key, receiver) as unknown;
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

export function tokenHashKey(algorithm: string): string {
  return `__tokenHash_${algorithm.replace('-', '')}`;
}

export function hashText(algorithm: string, text: string): string {
  return createHash(HASH_ALGORITHMS[algorithm]).update(text, 'utf8').digest('hex');
}
