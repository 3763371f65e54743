import { readFile } from 'node:fs/promises';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { InvalidRequestError } from '../shared/errors.js';
import { ApiClient, ApiError, ApiUnreachableError, lazySigV4Signer, regionOfApiUrl } from './api-client.js';
import { batchSummary, runBatch } from './batch.js';
import { ProgressDisplay, statusText, watchRows, type ProgressOutput } from './progress.js';
import { coerceFieldValue, requestFields } from './request-fields.js';
import { prepareSubmission, sendSubmission } from './submission.js';
import { downloadTaskFiles, getTask, isTerminal, pause, type TaskWithArtifacts } from './task-files.js';

/** The embedded stack's address (`npm start`). */
export const DEFAULT_API = 'http://127.0.0.1:51082';

/** Exit codes: 0 everything succeeded, 1 something failed or was refused, 2 the command line is wrong. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** A wrong command line: unknown command or flag, a missing argument, a value the request schema refuses. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface CliIo {
  stdout: ProgressOutput & { isTTY?: boolean };
  stderr: ProgressOutput & { isTTY?: boolean; rows?: number };
  env: Record<string, string | undefined>;
}

type Options = NonNullable<ParseArgsConfig['options']>;

const COMMON: Options = {
  api: { type: 'string' },
  region: { type: 'string' },
  sigv4: { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};
const INTERVAL: Options = { interval: { type: 'string' } };

const requestFlagOptions = (): Options => Object.fromEntries(requestFields().map((f) => [f.flag, { type: 'string' }]));

const COMMANDS: Record<string, { args: string; options: () => Options; summary: string }> = {
  submit: {
    args: '[request flags]',
    summary: 'upload media, then submit one request',
    options: () => ({
      ...requestFlagOptions(),
      'source-file': { type: 'string' },
      'upload-media': { type: 'string', multiple: true },
      'upload-music': { type: 'string', multiple: true },
      'idempotency-key': { type: 'string' },
      idempotent: { type: 'boolean' },
      wait: { type: 'boolean' },
      out: { type: 'string' },
      ...INTERVAL,
    }),
  },
  watch: { args: '<task_id>', summary: 'follow a task to its end, a line per stage', options: () => INTERVAL },
  get: { args: '<task_id>', summary: 'show a task; with --out DIR download its mp4 and drafts', options: () => ({ out: { type: 'string' } }) },
  cancel: { args: '<task_id>', summary: 'cancel a running task', options: () => ({}) },
  retry: { args: '<task_id>', summary: 'resume a failed or cancelled task at its stage', options: () => ({}) },
  list: {
    args: '',
    summary: 'list tasks, newest first',
    options: () => ({ status: { type: 'string' }, 'creator-id': { type: 'string' }, 'video-id': { type: 'string' }, limit: { type: 'string' } }),
  },
  batch: {
    args: '<FILE.jsonl|FILE.csv>',
    summary: 'submit one request per line; --wait follows them all, --out DIR downloads',
    options: () => ({
      concurrency: { type: 'string' },
      wait: { type: 'boolean' },
      out: { type: 'string' },
      idempotent: { type: 'boolean' },
      ...INTERVAL,
    }),
  },
};

export function usage(): string {
  const fields = requestFields()
    .map((f) => `  --${f.flag} ${f.hint}${f.required ? '  (required)' : ''}${f.defaultValue ? `  (default ${f.defaultValue})` : ''}`)
    .join('\n');
  const commands = Object.entries(COMMANDS)
    .map(([name, c]) => `  reel ${`${name} ${c.args}`.padEnd(30)} ${c.summary}`)
    .join('\n');
  return `reel — the reel-pipeline HTTP API from the command line

${commands}

Request flags of submit (the fields of POST /api/pipeline/run; batch lines use the field names):
${fields}
  --source-file PATH            source_text read from a file
  --upload-media PATH           a still or clip uploaded first (repeatable; batch column upload_media)
  --upload-music PATH           background music uploaded first (repeatable; batch column upload_music)
  --idempotency-key KEY | --idempotent   the same request twice makes one task (--idempotent: key from the content)
  --wait, --out DIR             follow the task; download <task_id>.mp4 and its drafts into DIR

Everywhere:
  --api URL        the API (default $REEL_API or ${DEFAULT_API})
  --sigv4, --region R   sign with AWS SigV4 (execute-api) from the standard credential chain;
                   on by itself for https://<id>.execute-api.<region>.amazonaws.com
  --json           machine-readable output
  --interval S     seconds between status reads (watch, --wait; default 1)

Exit codes: 0 everything succeeded, 1 a task or line failed or was refused, 2 a wrong command line.
Details: docs/cli.md`;
}

interface Context {
  client: ApiClient;
  signed: boolean;
  json: boolean;
  intervalMs: number;
  io: CliIo;
}

function contextOf(values: Record<string, unknown>, io: CliIo): Context {
  const api = (values.api as string | undefined) ?? io.env.REEL_API ?? DEFAULT_API;
  try {
    new URL(api);
  } catch {
    throw new UsageError(`--api must be a URL such as ${DEFAULT_API} (got "${api}").`);
  }
  const urlRegion = regionOfApiUrl(api);
  const signed = values.sigv4 === true || values.region !== undefined || urlRegion !== undefined;
  const region = (values.region as string | undefined) ?? urlRegion ?? io.env.AWS_REGION ?? io.env.AWS_DEFAULT_REGION;
  if (signed && !region) throw new UsageError('Signing needs a region: pass --region (or set AWS_REGION).');
  const interval = values.interval === undefined ? 1 : Number(values.interval);
  if (!Number.isFinite(interval) || interval <= 0 || interval > 3600) throw new UsageError('--interval must be a number of seconds above 0.');
  return { client: new ApiClient(api, signed ? lazySigV4Signer(region!) : undefined), signed, json: values.json === true, intervalMs: interval * 1000, io };
}

const print = (io: CliIo, text: string) => io.stdout.write(`${text}\n`);
const printJson = (io: CliIo, value: unknown) => io.stdout.write(`${JSON.stringify(value)}\n`);

function oneTaskId(positionals: string[], command: string): string {
  if (positionals.length !== 1) throw new UsageError(`reel ${command} takes one task id (reel ${command} <task_id>).`);
  return positionals[0];
}

/** Follows a task until it ends; returns the final record. */
async function watch(ctx: Context, taskId: string): Promise<TaskWithArtifacts> {
  const tty = !ctx.json && ctx.io.stdout.isTTY === true;
  const display = new ProgressDisplay(ctx.io.stdout, tty);
  let lastJson = '';
  for (;;) {
    const task = await getTask(ctx.client, taskId);
    if (ctx.json) {
      const view = {
        task_id: task.task_id,
        status: task.status,
        stage: task.stage,
        stages: Object.fromEntries(Object.entries(task.stages).map(([k, v]) => [k, v.status])),
      };
      const text = JSON.stringify(view);
      if (text !== lastJson && !isTerminal(task)) printJson(ctx.io, view);
      lastJson = text;
    } else display.update(watchRows(task, tty));
    if (isTerminal(task)) return task;
    await pause(ctx.intervalMs);
  }
}

async function download(ctx: Context, task: TaskWithArtifacts, out: string): Promise<number> {
  if (task.status !== 'SUCCEEDED') {
    const text = `task ${task.task_id} is ${statusText(task)}: nothing to download${isTerminal(task) ? '' : ' yet (reel watch it first)'}.`;
    if (ctx.json) printJson(ctx.io, { task_id: task.task_id, status: task.status, error: 'task_not_succeeded', message: text });
    else ctx.io.stderr.write(`${text}\n`);
    return EXIT.failed;
  }
  const files = await downloadTaskFiles(ctx.client, task, out);
  if (ctx.json) printJson(ctx.io, { task_id: task.task_id, status: task.status, files });
  else for (const f of files) print(ctx.io, `${f.file}  ${f.bytes} bytes`);
  return EXIT.ok;
}

async function submit(ctx: Context, values: Record<string, unknown>): Promise<number> {
  const fields = requestFields();
  const line: Record<string, unknown> = {};
  for (const f of fields) {
    const raw = values[f.flag];
    if (typeof raw === 'string') line[f.name] = coerceFieldValue(f.name, raw);
  }
  if (typeof values['source-file'] === 'string') {
    if (line.source_text !== undefined) throw new UsageError('Pass either --source-text or --source-file, not both.');
    line.source_text = await readFile(values['source-file'], 'utf8').catch(() => {
      throw new UsageError(`--source-file: cannot read ${String(values['source-file'])}.`);
    });
  }
  if (values['upload-media']) line.upload_media = values['upload-media'];
  if (values['upload-music']) line.upload_music = values['upload-music'];
  const submission = prepareSubmission(line, {
    baseDir: process.cwd(),
    idempotent: values.idempotent === true,
    idempotencyKey: values['idempotency-key'] as string | undefined,
  });
  const outcome = await sendSubmission(ctx.client, submission, { signed: ctx.signed });
  if (outcome.kind !== 'accepted') {
    const text = outcome.kind === 'duplicate' ? `duplicate of ${outcome.task_id}: ${outcome.message}` : `refused ${outcome.code}: ${outcome.message}`;
    if (ctx.json)
      printJson(
        ctx.io,
        outcome.kind === 'duplicate'
          ? { error: 'duplicate_task', task_id: outcome.task_id, message: outcome.message }
          : { error: outcome.code, message: outcome.message },
      );
    else ctx.io.stderr.write(`${text}\n`);
    return EXIT.failed;
  }
  if (ctx.json) printJson(ctx.io, { task_id: outcome.task_id, status: outcome.status, replayed: outcome.replayed, uploads: outcome.uploads });
  else print(ctx.io, `accepted ${outcome.task_id}${outcome.replayed ? ' (the task of an earlier identical request)' : ''}`);
  if (!values.wait && !values.out) return EXIT.ok;
  const task = await watch(ctx, outcome.task_id);
  if (typeof values.out === 'string') return download(ctx, await getTask(ctx.client, task.task_id), values.out);
  return task.status === 'SUCCEEDED' ? EXIT.ok : EXIT.failed;
}

async function list(ctx: Context, values: Record<string, unknown>): Promise<number> {
  const query = new URLSearchParams();
  for (const [flag, param] of [
    ['status', 'status'],
    ['creator-id', 'creator_id'],
    ['video-id', 'video_id'],
    ['limit', 'limit'],
  ]) {
    if (typeof values[flag] === 'string') query.set(param, values[flag]);
  }
  const url = ctx.client.url(`api/pipeline/tasks${query.size ? `?${query.toString()}` : ''}`);
  const { json } = await ctx.client.call('GET', url);
  if (ctx.json) {
    printJson(ctx.io, json);
    return EXIT.ok;
  }
  const tasks = (json.tasks ?? []) as TaskWithArtifacts[];
  for (const t of tasks) {
    const detail = t.status === 'RUNNING' || t.status === 'FAILED' ? `  ${statusText(t).replace(/^\S+ /, '')}` : '';
    print(ctx.io, `${t.task_id}  ${t.status.padEnd(9)}  ${`${t.creator_id}/${t.video_id}`.padEnd(24)}  ${t.created_at}${detail}`);
  }
  if (!tasks.length) print(ctx.io, 'no tasks');
  return EXIT.ok;
}

async function run(command: string, values: Record<string, unknown>, positionals: string[], io: CliIo): Promise<number> {
  const ctx = contextOf(values, io);
  switch (command) {
    case 'submit':
      if (positionals.length) throw new UsageError(`reel submit takes flags only (unexpected "${positionals[0]}").`);
      return submit(ctx, values);
    case 'watch': {
      const task = await watch(ctx, oneTaskId(positionals, 'watch'));
      if (ctx.json) printJson(ctx.io, task);
      return task.status === 'SUCCEEDED' ? EXIT.ok : EXIT.failed;
    }
    case 'get': {
      const task = await getTask(ctx.client, oneTaskId(positionals, 'get'));
      if (typeof values.out === 'string') return download(ctx, task, values.out);
      if (ctx.json) printJson(io, task);
      else {
        for (const [, text] of watchRows(task, false)) print(io, text);
        for (const a of task.artifacts ?? []) print(io, `  artifact ${a.name}  ${a.size} bytes`);
      }
      return EXIT.ok;
    }
    case 'cancel':
    case 'retry': {
      const taskId = oneTaskId(positionals, command);
      const { json } = await ctx.client.call('POST', `api/pipeline/tasks/${encodeURIComponent(taskId)}/${command}`);
      if (ctx.json) printJson(io, json);
      else print(io, command === 'cancel' ? `cancelled ${taskId}` : `retried ${taskId}: ${String(json.status)} (redrive ${String(json.redrives)})`);
      return EXIT.ok;
    }
    case 'list':
      if (positionals.length) throw new UsageError(`reel list takes flags only (unexpected "${positionals[0]}").`);
      return list(ctx, values);
    case 'batch': {
      if (positionals.length !== 1) throw new UsageError('reel batch takes one file (reel batch requests.jsonl).');
      const concurrency = values.concurrency === undefined ? 4 : Number(values.concurrency);
      if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) throw new UsageError('--concurrency must be a whole number from 1 to 64.');
      const result = await runBatch(ctx.client, {
        file: positionals[0],
        concurrency,
        wait: values.wait === true,
        out: values.out as string | undefined,
        idempotent: values.idempotent === true,
        intervalMs: ctx.intervalMs,
        signed: ctx.signed,
        progress: io.stderr,
        progressTty: io.stderr.isTTY === true,
        progressRows: io.stderr.rows,
      }).catch((error: unknown) => {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new UsageError(`reel batch: no such file ${positionals[0]}.`);
        throw error;
      });
      if (ctx.json) printJson(io, result);
      else print(io, batchSummary(result.lines));
      return result.ok ? EXIT.ok : EXIT.failed;
    }
    default:
      throw new UsageError(`unknown command "${command}".`);
  }
}

/** Runs one command line; resolves to the exit code. Never throws. */
export async function main(argv: string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr, env: process.env }): Promise<number> {
  const [command, ...rest] = argv;
  const wantsJson = rest.includes('--json');
  try {
    if (!command || command === 'help' || command === '--help' || command === '-h') {
      (command ? io.stdout : io.stderr).write(`${usage()}\n`);
      return command ? EXIT.ok : EXIT.usage;
    }
    const spec = COMMANDS[command];
    if (!spec) throw new UsageError(`unknown command "${command}" (one of ${Object.keys(COMMANDS).join(', ')}).`);
    let parsed;
    try {
      parsed = parseArgs({ args: rest, options: { ...COMMON, ...spec.options() }, allowPositionals: true, strict: true });
    } catch (error: unknown) {
      // parseArgs adds advice about '--' that only confuses here: its first sentence says it all.
      throw new UsageError(`reel ${command}: ${(error instanceof Error ? error.message : String(error)).split('. To specify')[0].replace(/\.?$/, '.')}`);
    }
    if (parsed.values.help) {
      io.stdout.write(`${usage()}\n`);
      return EXIT.ok;
    }
    return await run(command, parsed.values, parsed.positionals, io);
  } catch (error: unknown) {
    const [code, message, exit] =
      error instanceof UsageError
        ? ['usage', error.message, EXIT.usage]
        : error instanceof InvalidRequestError
          ? [error.code, error.message, EXIT.usage]
          : error instanceof ApiError || error instanceof ApiUnreachableError
            ? [error instanceof ApiError ? error.code : 'unreachable', error.message, EXIT.failed]
            : ['internal', error instanceof Error ? (error.stack ?? error.message) : String(error), EXIT.failed];
    if (wantsJson) io.stdout.write(`${JSON.stringify({ error: code, message })}\n`);
    io.stderr.write(`reel: ${message}${exit === EXIT.usage ? '\nRun "reel help" for usage.' : ''}\n`);
    return exit;
  }
}
