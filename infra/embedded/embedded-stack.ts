import './promise-with-resolvers.js';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import type { Hono } from 'hono';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createApiApp } from '../../lambdas/api/app.js';
import { createInboxHandler, type InboxS3Event } from '../../lambdas/inbox/handler.js';
import { putObject } from '../../shared/artifacts.js';
import { ConfigError } from '../../shared/errors.js';
import { runExportAgent } from '../../shared/export/export-agent.js';
import { runDeadLetterConsumer } from '../../shared/export/dead-letter.js';
import type { ExportOutcome } from '../../shared/export/export-worker.js';
import type { Exporter } from '../../shared/export/exporter.js';
import { HttpExporter } from '../../shared/export/http-exporter.js';
import { ARTIFACT, taskArtifactKey } from '../../shared/keys.js';
import { releaseVideoLock } from '../../shared/lock.js';
import { PREFIX } from '../../shared/resources/storage.js';
import { addLogSink, createLogger, type LogLine } from '../../shared/logger.js';
import {
  EXPORT_QUEUE_PLACEHOLDER,
  STATE_MACHINE_FUNCTIONS,
  STATE_MACHINE_FUNCTION_NAMES,
  STATE_OF_FUNCTION,
  type StateMachineFunction,
} from '../../shared/resources/functions.js';
import { createRuntime, type Runtime } from '../../shared/runtime.js';
import {
  DEFAULT_DEFINITION_OPTIONS,
  pipelineDefinition,
  substituteDefinition,
  type DefinitionOptions,
  type DefinitionPlaceholder,
} from '../../shared/state-machine.js';
import { STAGES, listTasks, markTaskFailed, type StageName } from '../../shared/task-record.js';
import { startExportService } from './export-service.js';
import { startLocalStepFunctions, type ExecutionSummary, type LambdaLike } from './step-functions/local-step-functions.js';
import { createStateMachineHandlers } from './state-machine-handlers.js';
import { warmEspeakEngine } from '../../shared/tts/espeak-tts.js';
import { EngineLane, NEXT_STAGE_HOLD_MS, taskIdOf } from './engine-lanes.js';
import { TestControls, injectedError } from './test-controls.js';
import { runAsPrincipal, type EmbeddedPrincipal } from './aws-principal.js';
import { startEmulatorThreads, type EmulatorThread } from './emulator-threads.js';
import { createExportQueues, createWebhookQueue, ensureBucket, ensureTable } from './embedded-resources.js';
import { runWebhookConsumer } from '../../shared/webhook/webhook-consumer.js';
import type { DeliveryOutcome } from '../../shared/webhook/webhook-delivery.js';
import type { HostResolver } from '../../shared/webhook/webhook-hosts.js';

import { ACCOUNT, BUCKET_NAME, EXPORT_DLQ, EXPORT_QUEUE, REGION, STATE_MACHINE_ARN, TABLE_NAME } from './embedded-names.js';

export { ACCOUNT, BUCKET_NAME, EXPORT_DLQ, EXPORT_QUEUE, REGION, STATE_MACHINE_ARN, TABLE_NAME };
export const functionArn = (fn: StateMachineFunction) => `arn:aws:lambda:${REGION}:${ACCOUNT}:function:reel-pipeline-${fn}`;

export interface EmbeddedStackOptions {
  /** where the table and the objects live; survives a restart (default `.data`) */
  dataDir: string;
  /** HTTP API port (0 = any free port) */
  port: number;
  host?: string;
  /** test-only gates and faults under /__test (PIPELINE_TEST_CONTROLS=1) */
  testControls?: boolean;
  /** run the export agent in-process (default true) */
  exportWorker?: boolean;
  /**
   * an external exporter; without it the embedded single-threaded export service starts. Its
   * shared secret comes from `extraEnv.EXPORT_AUTH_TOKEN` (required then); the embedded service
   * uses that too, or a random one per start.
   */
  exportVideoUrl?: string;
  exportVisibilitySeconds?: number;
  exportPollSeconds?: number;
  /** cap of the export worker's back-off while the exporter is busy or unreachable (default 30 s) */
  exportMaxBackoffMs?: number;
  /** export queue receives before a message goes to the DLQ */
  exportMaxReceiveCount?: number;
  definition?: Partial<DefinitionOptions>;
  /** wraps the exporter the worker uses (tests inject faults there) */
  wrapExporter?: (exporter: Exporter) => Exporter;
  onExportOutcome?: (outcome: ExportOutcome, messageBody: string) => void;
  /** more handler settings (e.g. GEMINI_API_KEY, STORY_RPM), merged into the handlers' environment */
  extraEnv?: Record<string, string>;
  /** DNS of webhook hosts, at submission and delivery (tests inject one); default the system's */
  webhookResolver?: HostResolver;
  onWebhookOutcome?: (outcome: DeliveryOutcome) => void;
  /**
   * serve the in-process engines (eSpeak TTS, draft building) one task at a time in task-id order
   * (default true; see engine-lanes.ts). False lets every invocation share them at once.
   */
  engineLanes?: boolean;
  /**
   * when the export agent hands the exporter its next job (shared/export/export-agent.ts): default
   * `before-store` with the embedded export service (it keeps finished videos), `after-store` with
   * an external exporter; `off` waits for each message.
   */
  exportNextJob?: 'before-store' | 'after-store' | 'off';
  /**
   * load the eSpeak engine while the stack starts (in the background; `enginesReady` says when),
   * so the first narration does not pay for it (default false; `npm start` and the bench: true)
   */
  warmEngines?: boolean;
}

export interface EmbeddedStack {
  apiUrl: string;
  exportServiceUrl: string;
  /** the environment a handler process would get (endpoints, names, dummy credentials) */
  env: Record<string, string>;
  runtime: Runtime;
  controls: TestControls;
  exportQueueUrl: string;
  exportDlqUrl: string;
  webhookQueueUrl: string;
  exportService?: Awaited<ReturnType<typeof startExportService>>;
  /** delivers an S3 event to the inbox trigger, as S3 does on AWS (tests use it to deliver duplicates) */
  deliverS3Event(event: InboxS3Event): Promise<{ outcomes: string[] }>;
  /** resolves once every inbox event delivered so far has been handled */
  inboxIdle(): Promise<void>;
  startExportWorker(): void;
  /** stops the in-process export agent as a crash would: no message is deleted or reported */
  stopExportWorker(): Promise<void>;
  /** resolves when the given task's execution has ended and its logs are stored */
  settled(taskId: string): Promise<void>;
  /** resolves once the engines `warmEngines` asked for are loaded and warm (at once without it; a failure is only logged) */
  enginesReady: Promise<void>;
  /** the worker threads dynalite, s3rver and fauxqs run on (emulator-threads.ts) */
  emulatorThreads: readonly EmulatorThread[];
  /** resolves when an emulator thread ended on its own (its services refuse every call from then on); never after a clean stop */
  emulatorsEnded: Promise<{ emulators: readonly string[]; exitCode: number }>;
  stop(): Promise<void>;
}

/** The API port is taken by another process (EADDRINUSE). */
export class PortInUseError extends Error {
  constructor(
    readonly port: number,
    readonly host: string,
    options?: { cause?: unknown },
  ) {
    super(`Port ${port} on ${host} is already in use.`, options);
    this.name = 'PortInUseError';
  }
}

const portError = (port: number, host: string) => (error: NodeJS.ErrnoException) =>
  error.code === 'EADDRINUSE' ? new PortInUseError(port, host, { cause: error }) : error;

/** Fails before anything starts or is written when the API port is taken (the real bind comes last). */
async function ensurePortFree(host: string, port: number): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((ok, fail) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => fail(portError(port, host)(error)));
    probe.listen(port, host, () => probe.close(() => ok()));
  });
}

async function freePort(host: string): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolvePort(port));
    });
  });
}

/**
 * Tasks RUNNING with no execution to continue (the data directory was written by a version that
 * kept executions in memory, or the stack stopped between the task record and StartExecution)
 * cannot resume: they are marked FAILED and their locks freed. Every other running task
 * continues with its execution (the local Step Functions API reloads them from the data dir).
 */
async function failTasksWithoutExecution(rt: Runtime, executions: ExecutionSummary[], log: ReturnType<typeof createLogger>): Promise<void> {
  const known = new Set(executions.map((execution) => execution.name));
  for (const task of await listTasks(rt, { status: 'RUNNING', limit: 10_000 })) {
    if (known.has(task.task_id)) continue;
    const stage = (STAGES as readonly string[]).includes(task.stage) ? (task.stage as StageName) : 'execution';
    await markTaskFailed(rt, task.task_id, {
      stage,
      code: 'interrupted_by_restart',
      message: 'The embedded stack stopped while this task was running (interrupted by restart) and kept no execution to continue from; submit it again.',
    });
    await releaseVideoLock(rt, { creatorId: task.creator_id, videoId: task.video_id, taskId: task.task_id });
    log.warn('task interrupted by restart marked FAILED', { task_id: task.task_id, creator_id: task.creator_id, video_id: task.video_id, stage });
  }
}

/**
 * The whole pipeline in one process: dynalite (DynamoDB), s3rver (S3, file-backed) and fauxqs
 * (SQS FIFO) on a worker thread of their own; on this thread the local Step Functions API
 * running the shared definition, the same handlers that Lambda runs, the export agent, the
 * single-threaded export service and the HTTP API.
 */
export async function startEmbeddedStack(options: EmbeddedStackOptions): Promise<EmbeddedStack> {
  const log = createLogger({ stage: 'embedded-stack' });
  const host = options.host ?? '127.0.0.1';
  await ensurePortFree(host, options.port);
  // The API's socket is bound first: the API answers only for its own address (DNS rebinding), so
  // it is built knowing its port; until then the socket answers 503.
  let apiFetch: Hono['fetch'] | undefined;
  const server: ServerType = await new Promise((ok, fail) => {
    const s = serve(
      {
        fetch: (request, ...rest) =>
          apiFetch
            ? apiFetch(request, ...rest)
            : Response.json(
                { error: 'starting', message: 'The pipeline is still starting; try again in a moment.' },
                { status: 503, headers: { 'retry-after': '1' } },
              ),
        port: options.port,
        hostname: host,
      },
      () => ok(s),
    );
    // Taken since the check above (a race): fail the same way.
    s.once('error', (error: NodeJS.ErrnoException) => fail(portError(options.port, host)(error)));
  });
  const closeServer = () => new Promise<void>((ok) => server.close(() => ok()));
  let serverInClosers = false;
  const address = server.address();
  const apiPort = typeof address === 'object' && address ? address.port : options.port;
  const dataDir = resolve(options.dataDir);
  for (const dir of ['dynamodb', 's3', 'exporter', 'step-functions']) mkdirSync(join(dataDir, dir), { recursive: true });
  const closers: Array<() => Promise<void>> = [];
  const closeAll = async () => {
    for (const close of closers.reverse()) await close().catch((error: unknown) => log.warn('shutdown step failed', { error }));
  };

  try {
    // DynamoDB, S3 (objects as files under dataDir/s3) and SQS, on a thread of their own.
    const emulators = await startEmulatorThreads({ host, dataDir, s3EventPrefixes: [PREFIX.inbox] });
    closers.push(() => emulators.stop());

    const definitionOptions: DefinitionOptions = { ...DEFAULT_DEFINITION_OPTIONS, ...options.definition };
    const sfnPort = await freePort(host);
    const env: Record<string, string> = {
      AWS_REGION: REGION,
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_ENDPOINT_URL_DYNAMODB: `http://${host}:${emulators.ports.dynamodb}`,
      AWS_ENDPOINT_URL_S3: `http://${host}:${emulators.ports.s3}`,
      AWS_ENDPOINT_URL_SQS: `http://127.0.0.1:${emulators.ports.sqs}`,
      AWS_ENDPOINT_URL_SFN: `http://${host}:${sfnPort}`,
      S3_FORCE_PATH_STYLE: 'true',
      TABLE_NAME,
      BUCKET_NAME,
      STATE_MACHINE_ARN,
      ARTIFACT_DELIVERY: 'inline',
      EXPORT_VISIBILITY_SECONDS: String(options.exportVisibilitySeconds ?? 60),
      EXPORT_POLL_SECONDS: String(options.exportPollSeconds ?? 20),
      ...options.extraEnv,
      API_ALLOWED_HOSTS: [
        `${host.includes(':') ? `[${host}]` : host}:${apiPort}`,
        `127.0.0.1:${apiPort}`,
        `localhost:${apiPort}`,
        options.extraEnv?.API_ALLOWED_HOSTS,
      ]
        .filter(Boolean)
        .join(','),
      // The API refuses exports that could not finish within the definition's Export timeout.
      EXPORT_TIMEOUT_SECONDS: String(definitionOptions.exportTimeoutSeconds),
    };
    const bootstrap = createRuntime(env);
    // The table, bucket and queues as the CDK stack declares them (shared/resources/).
    await ensureTable(
      new DynamoDBClient({ region: REGION, endpoint: env.AWS_ENDPOINT_URL_DYNAMODB, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } }),
      TABLE_NAME,
    );
    await ensureBucket(bootstrap.s3, BUCKET_NAME);
    const { exportQueueUrl, exportDlqUrl } = await createExportQueues(bootstrap.sqs, {
      visibilitySeconds: Number(env.EXPORT_VISIBILITY_SECONDS),
      maxReceiveCount: options.exportMaxReceiveCount,
    });
    env.EXPORT_QUEUE_URL = exportQueueUrl;
    env.WEBHOOK_QUEUE_URL = await createWebhookQueue(bootstrap.sqs);
    // The webhook signing key: the one given, or a fresh one per start (receivers of a laptop stack read it from .data/webhook-secret).
    env.WEBHOOK_SECRET ||= randomBytes(32).toString('base64url');
    writeFileSync(join(dataDir, 'webhook-secret'), `${env.WEBHOOK_SECRET}\n`, { mode: 0o600 });

    // Export service (the single-threaded exporter), unless an external one is named.
    let exportService: Awaited<ReturnType<typeof startExportService>> | undefined;
    let exportVideoUrl: string = options.exportVideoUrl ?? '';
    // The export contract's shared secret (docs/architecture.md, "Export service contract"): the embedded
    // service gets a fresh one per start unless one is given; an external exporter's is given.
    if (exportVideoUrl && !env.EXPORT_AUTH_TOKEN)
      throw new ConfigError('EXPORT_AUTH_TOKEN', `the exporter at ${exportVideoUrl} (EXPORT_VIDEO_URL) needs its shared secret`);
    env.EXPORT_AUTH_TOKEN ||= randomBytes(32).toString('base64url');
    if (!exportVideoUrl) {
      exportService = await startExportService({ port: 0, host, workDir: join(dataDir, 'exporter'), authToken: env.EXPORT_AUTH_TOKEN });
      closers.push(() => exportService!.close());
      exportVideoUrl = exportService.url;
    }
    env.EXPORT_VIDEO_URL = exportVideoUrl;

    const rt = createRuntime(env);
    if (options.webhookResolver) rt.resolveHost = options.webhookResolver;
    const enginesReady =
      options.warmEngines && rt.settings.ttsProvider === 'espeak'
        ? warmEspeakEngine().catch((error: unknown) => log.warn('eSpeak engine not warmed at start; the first narration loads it', { error }))
        : Promise.resolve();
    // What an export agent on this machine needs (npm run export-agent): source this file. It
    // holds the exporter's secret, so only its owner may read it.
    const agentEnvFile = join(dataDir, 'export-agent.env');
    writeFileSync(
      agentEnvFile,
      [
        'AWS_REGION',
        'AWS_ACCESS_KEY_ID',
        'AWS_SECRET_ACCESS_KEY',
        'AWS_ENDPOINT_URL_DYNAMODB',
        'AWS_ENDPOINT_URL_S3',
        'AWS_ENDPOINT_URL_SQS',
        'AWS_ENDPOINT_URL_SFN',
        'S3_FORCE_PATH_STYLE',
        'TABLE_NAME',
        'BUCKET_NAME',
        'EXPORT_QUEUE_URL',
        'EXPORT_VIDEO_URL',
        'EXPORT_AUTH_TOKEN',
      ]
        .map((k) => `${k}=${env[k]}`)
        .join('\n') + '\n',
      { mode: 0o600 },
    );
    chmodSync(agentEnvFile, 0o600);
    const controls = new TestControls();
    // Each handler runs as the function it is on AWS, so its calls can be checked against that role.
    const as = <T>(principal: EmbeddedPrincipal, work: () => T): T => runAsPrincipal({ principal, settings: rt.settings }, work);

    // Each task's log lines, kept with its artifacts when its execution ends.
    const taskLogs = new Map<string, string[]>();
    const removeSink = addLogSink((line: LogLine) => {
      const id = line.task_id;
      if (typeof id !== 'string') return;
      const lines = taskLogs.get(id) ?? [];
      lines.push(JSON.stringify(line));
      taskLogs.set(id, lines);
    });
    closers.push(() => {
      removeSink();
      return Promise.resolve();
    });
    const flushTaskLog = async (taskId: string) => {
      const lines = taskLogs.get(taskId);
      if (!lines) return;
      taskLogs.delete(taskId);
      await putObject(rt, taskArtifactKey(taskId, ARTIFACT.log), `${lines.join('\n')}\n`, 'application/x-ndjson');
    };

    // Handlers, invoked as Lambda invokes them.
    const handlers = createStateMachineHandlers(rt);
    // The stages that work in this process, one task at a time in submission order: the offline
    // story, eSpeak TTS and draft building (a remote story or TTS service is not this process's
    // CPU: its calls run side by side as on AWS). One lane for all of them, held briefly after a
    // task's stage for the same task's next one (engine-lanes.ts).
    const lanes: Partial<Record<StateMachineFunction, { lane: EngineLane; holdMs?: number }>> = {};
    if (options.engineLanes !== false) {
      const engines = new EngineLane('local-engines');
      lanes.draft = { lane: engines };
      if (rt.settings.ttsProvider === 'espeak') lanes.tts = { lane: engines, holdMs: NEXT_STAGE_HOLD_MS };
      // The offline story's next stage is the narration: hold for it only when it is in the lane too.
      if (!rt.settings.geminiApiKey && !rt.settings.geminiApiKeySecretArn) lanes.story = { lane: engines, holdMs: lanes.tts ? NEXT_STAGE_HOLD_MS : undefined };
    }
    const lambdas: Record<string, LambdaLike> = {};
    for (const fn of STATE_MACHINE_FUNCTION_NAMES) {
      const handler = handlers[fn] as (event: unknown) => Promise<unknown>;
      const lane = lanes[fn];
      lambdas[functionArn(fn)] = async (event) => {
        const fault = options.testControls ? controls.takeFault(STATE_OF_FUNCTION[fn]) : undefined;
        if (fault) throw injectedError(fault);
        const invoke = () => as(fn, () => handler(event));
        return lane ? lane.lane.run(taskIdOf(event), invoke, { holdMs: lane.holdMs }) : invoke();
      };
    }
    const placeholders = Object.fromEntries(STATE_MACHINE_FUNCTION_NAMES.map((fn) => [STATE_MACHINE_FUNCTIONS[fn], functionArn(fn)])) as Record<
      DefinitionPlaceholder,
      string
    >;
    placeholders[EXPORT_QUEUE_PLACEHOLDER] = exportQueueUrl;
    const definition = substituteDefinition(pipelineDefinition(definitionOptions), placeholders);

    const settledWaiters = new Map<string, Array<() => void>>();
    const settledTasks = new Set<string>();
    const sfn = await startLocalStepFunctions({
      definition,
      stateMachineArn: STATE_MACHINE_ARN,
      lambdas,
      sqs: rt.sqs,
      runAsService: (send) => as('stateMachine', send),
      // Executions live on disk: after a restart they continue where they were.
      persistDir: join(dataDir, 'step-functions'),
      port: sfnPort,
      host,
      beforeTask: options.testControls ? ({ stateName, executionName }) => controls.beforeTask(stateName, executionName) : undefined,
      onExecutionEnded: async (ended) => {
        // What the EventBridge rule does on AWS: every failed ending (a stage error included: the
        // definition has no Catch) reaches the fail handler, with the same detail fields.
        if (ended.status !== 'SUCCEEDED') {
          await as('fail', () =>
            (handlers.fail as (e: unknown) => Promise<unknown>)({
              source: 'aws.states',
              'detail-type': 'Step Functions Execution Status Change',
              detail: {
                executionArn: ended.executionArn,
                name: ended.name,
                status: ended.status,
                error: ended.error,
                cause: ended.cause,
                redriveCount: ended.redriveCount,
              },
            }),
          ).catch((error: unknown) => log.error('fail handler failed for an ended execution', { error, task_id: ended.name }));
        }
        await flushTaskLog(ended.name).catch((error: unknown) => log.warn('could not store task log', { error, task_id: ended.name }));
        settledTasks.add(ended.name);
        for (const done of settledWaiters.get(ended.name) ?? []) done();
        settledWaiters.delete(ended.name);
      },
    });
    closers.push(() => sfn.close());
    // Executions that ended before this start (their ends are delivered by now) are settled.
    for (const execution of sfn.executions()) if (execution.status !== 'RUNNING') settledTasks.add(execution.name);
    await failTasksWithoutExecution(rt, sfn.executions(), log);

    // Export agent, in-process (the same code runs by hand: npm run export-agent).
    const baseExporter: Exporter = new HttpExporter(exportVideoUrl, env.EXPORT_AUTH_TOKEN);
    const exporter = options.wrapExporter ? options.wrapExporter(baseExporter) : baseExporter;
    let agent: { abort: AbortController; done: Promise<void> } | undefined;
    const startExportWorker = () => {
      if (agent) return;
      const abort = new AbortController();
      const done = as('export', () =>
        runExportAgent(
          {
            rt,
            exporter,
            queueUrl: exportQueueUrl,
            visibilitySeconds: rt.settings.exportVisibilitySeconds,
            pollSeconds: rt.settings.exportPollSeconds,
            waitTimeSeconds: 1,
            maxBackoffMs: options.exportMaxBackoffMs,
            onOutcome: options.onExportOutcome,
            nextJob: options.exportNextJob ?? (exportService ? 'before-store' : 'after-store'),
          },
          abort.signal,
        ),
      );
      agent = { abort, done };
    };
    /** As if the worker process were killed: its job is abandoned, its message reappears after the visibility timeout. */
    const stopExportWorker = async () => {
      const current = agent;
      agent = undefined;
      if (!current) return;
      current.abort.abort();
      await current.done;
    };
    if (options.exportWorker !== false) startExportWorker();
    closers.push(stopExportWorker);

    // Dead-letter consumer: fails the task of an export message that kept failing.
    const dlqAbort = new AbortController();
    const dlqDone = as('exportDlq', () => runDeadLetterConsumer(rt, exportDlqUrl, dlqAbort.signal));
    closers.push(async () => {
      dlqAbort.abort();
      await dlqDone;
    });

    // Webhook consumer: what the webhook function does on AWS, fed by the same kind of queue.
    const webhookAbort = new AbortController();
    const webhookDone = as('webhook', () =>
      runWebhookConsumer(rt, {
        queueUrl: env.WEBHOOK_QUEUE_URL,
        signal: webhookAbort.signal,
        deps: { secret: { get: () => Promise.resolve(env.WEBHOOK_SECRET), forget: () => undefined }, resolve: rt.resolveHost },
        onOutcome: options.onWebhookOutcome,
      }),
    );
    closers.push(async () => {
      webhookAbort.abort();
      await webhookDone;
    });

    // S3 upload trigger: s3rver reports object writes; S3 event notifications on AWS.
    const inbox = createInboxHandler(rt);
    let inboxQueue: Promise<unknown> = Promise.resolve();
    const deliverS3Event = (event: InboxS3Event) => {
      const run = as('inbox', () => inbox(event));
      inboxQueue = inboxQueue.then(() => run).catch((error: unknown) => log.error('inbox trigger failed', { error }));
      return run;
    };
    emulators.onS3Event((event) => {
      const raw = event as InboxS3Event;
      const records = (raw.Records ?? [])
        .filter((r) => r.s3.object.key.startsWith(PREFIX.inbox))
        // AWS URL-encodes keys in event notifications (spaces as "+"); s3rver does not.
        .map((r) => ({
          ...r,
          s3: { ...r.s3, object: { ...r.s3.object, key: encodeURIComponent(r.s3.object.key).replace(/%20/g, '+').replace(/%2F/g, '/') } },
        }));
      if (records.length) void deliverS3Event({ Records: records }).catch(() => undefined);
    });

    // HTTP API
    const root = createApiApp(rt);
    if (options.testControls) {
      root.route('/__test', controls.routes());
      // The emulator thread crashing, as a test needs it (`npm start` then stops with a line and exit code 1).
      root.post('/__test/emulator-threads/end', async (c) => {
        await Promise.all(emulators.threads.map((t) => t.worker.terminate()));
        return c.json({ ended: emulators.threads.length });
      });
    }
    // The test controls are the test's own hand, not the API function's.
    apiFetch = (request, ...rest) =>
      new URL(request.url).pathname.startsWith('/__test') ? root.fetch(request, ...rest) : as('api', () => root.fetch(request, ...rest));
    closers.push(closeServer);
    serverInClosers = true;

    return {
      apiUrl: `http://${host}:${apiPort}`,
      exportServiceUrl: exportVideoUrl,
      env,
      runtime: rt,
      controls,
      exportQueueUrl,
      exportDlqUrl,
      webhookQueueUrl: env.WEBHOOK_QUEUE_URL,
      exportService,
      deliverS3Event,
      startExportWorker,
      stopExportWorker,
      inboxIdle: async () => {
        await inboxQueue;
      },
      enginesReady,
      emulatorThreads: emulators.threads,
      emulatorsEnded: emulators.ended,
      settled: (taskId: string) =>
        settledTasks.has(taskId) ? Promise.resolve() : new Promise<void>((ok) => settledWaiters.set(taskId, [...(settledWaiters.get(taskId) ?? []), ok])),
      stop: closeAll,
    };
  } catch (error: unknown) {
    await closeAll();
    if (!serverInClosers) await closeServer();
    throw error;
  }
}
