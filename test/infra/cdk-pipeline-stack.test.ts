import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { App, type CfnElement } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { Construct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACCOUNT, EXPORT_QUEUE, REGION, functionArn } from '../../infra/embedded/embedded-stack.js';
import { PipelineStack, type PipelineFunctionName } from '../../infra/cdk/pipeline-stack.js';
import { dependencyCycles, describeStatement, statementsOfRole, substituteAsCloudFormation, type CfnTemplate } from '../../infra/cdk/template-inspection.js';
import { STATE_MACHINE_FUNCTIONS, type StateMachineFunction } from '../../shared/resources/functions.js';
import { createApiApp } from '../../lambdas/api/app.js';
import { createRuntime } from '../../shared/runtime.js';
import { METRIC_NAMESPACE } from '../../shared/resources/metrics.js';
import { SETTING_ENV, settingMetaOf, type SettingReader, type Settings } from '../../shared/settings.js';
import { DEFAULT_DEFINITION_OPTIONS, pipelineDefinition, substituteDefinition, type DefinitionPlaceholder } from '../../shared/state-machine.js';

/**
 * The AWS stack with its defaults (Lambda export worker, builtin ffmpeg exporter), synthesized
 * once with real bundling: what `npx cdk deploy` would upload.
 */
let outdir: string;
let stack: PipelineStack;
let template: Template;
let json: CfnTemplate;
/** logical id → readable name (`fn:api`, `Table`, …) for policy lines */
const names: Record<string, string> = {};
const logicalId = (c: Construct) => stack.getLogicalId(c.node.defaultChild as CfnElement);

beforeAll(() => {
  outdir = mkdtempSync(path.join(tmpdir(), 'reel-cdk-'));
  const app = new App({ outdir, builtinCloudFormationValidation: false, treeMetadata: false });
  stack = new PipelineStack(app, 'ReelPipeline');
  template = Template.fromStack(stack);
  json = template.toJSON() as CfnTemplate;
  Object.assign(names, {
    [logicalId(stack.table)]: 'Table',
    [logicalId(stack.exportQueue)]: 'ExportQueue',
    [logicalId(stack.exportDeadLetterQueue)]: 'ExportDLQ',
    [logicalId(stack.undeliveredEventsQueue)]: 'UndeliveredEvents',
    [logicalId(stack.webhookQueue)]: 'WebhookQueue',
    [logicalId(stack.webhookSecret as unknown as Construct)]: 'WebhookSecret',
    [logicalId(stack.stateMachine)]: 'StateMachine',
  });
  for (const [name, f] of Object.entries(stack.functions)) {
    names[logicalId(f.fn)] = `fn:${name}`;
    names[logicalId(f.logGroup)] = `logs:${name}`;
  }
}, 240_000);

afterAll(() => {
  if (outdir) rmSync(outdir, { recursive: true, force: true });
});

const resourcesOfType = (type: string) => Object.entries(json.Resources).filter(([, r]) => r.Type === type);
const fnProps = (name: PipelineFunctionName) => json.Resources[logicalId(stack.functions[name]!.fn)].Properties as Record<string, any>;
/** Where the synthesized bundle of a function is (what `cdk deploy` zips and uploads). */
const assetDirOf = (name: PipelineFunctionName) => path.join(outdir, `asset.${String(fnProps(name).Code.S3Key).replace(/\.zip$/, '')}`);

describe('the state machine', () => {
  it('is the document the embedded stack runs, once CloudFormation substitutes the same ARNs', () => {
    // prepare: the embedded stack's ARNs and queue URL, as fake deployed values
    const fakeQueueUrl = `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${EXPORT_QUEUE}`;
    const values = Object.fromEntries(
      Object.entries(STATE_MACHINE_FUNCTIONS).map(([fn, placeholder]) => [placeholder, functionArn(fn as StateMachineFunction)]),
    ) as Record<DefinitionPlaceholder, string>;
    values.ExportQueueUrl = fakeQueueUrl;
    const fnByLogicalId = Object.fromEntries(
      (Object.keys(STATE_MACHINE_FUNCTIONS) as StateMachineFunction[]).map((fn) => [logicalId(stack.functions[fn]!.fn), fn]),
    );
    const [, sm] = resourcesOfType('AWS::StepFunctions::StateMachine')[0];

    // act: resolve the template's substitutions as CloudFormation would
    const deployed = substituteAsCloudFormation(
      sm.Properties!.DefinitionString as string,
      sm.Properties!.DefinitionSubstitutions as Record<string, unknown>,
      (id, attr) => {
        if (attr === 'Arn' && fnByLogicalId[id]) return functionArn(fnByLogicalId[id]);
        if (attr === undefined && id === logicalId(stack.exportQueue)) return fakeQueueUrl;
        throw new Error(`unexpected reference ${id}.${attr}`);
      },
    );

    // assess
    expect(Object.keys(sm.Properties!.DefinitionSubstitutions as object).sort()).toEqual([...Object.values(STATE_MACHINE_FUNCTIONS), 'ExportQueueUrl'].sort());
    expect(deployed).toEqual(substituteDefinition(pipelineDefinition(DEFAULT_DEFINITION_OPTIONS), values));
  });

  it('is a Standard machine with a time limit, logging ALL without execution data (no task tokens) to its own log group, with X-Ray tracing', () => {
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineType: 'STANDARD',
      LoggingConfiguration: {
        Level: 'ALL',
        IncludeExecutionData: false,
        Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^StateMachineLogs'), 'Arn'] } } }],
      },
      TracingConfiguration: { Enabled: true },
    });
    const definition = JSON.parse(resourcesOfType('AWS::StepFunctions::StateMachine')[0][1].Properties!.DefinitionString as string);
    expect(definition.TimeoutSeconds).toBe(DEFAULT_DEFINITION_OPTIONS.executionTimeoutSeconds);
    template.hasResourceProperties('AWS::Logs::LogGroup', { LogGroupName: '/aws/vendedlogs/states/ReelPipeline-pipeline', RetentionInDays: 30 });
  });

  it('sends the Export state to the FIFO export queue and waits for the task token', () => {
    const [, sm] = resourcesOfType('AWS::StepFunctions::StateMachine')[0];
    const exportState = JSON.parse(sm.Properties!.DefinitionString as string).States.Export;
    expect(exportState.Resource).toBe('arn:aws:states:::sqs:sendMessage.waitForTaskToken');
    expect(exportState.Parameters.QueueUrl).toBe('${ExportQueueUrl}');
    expect(exportState.Parameters['MessageDeduplicationId.$']).toContain('$$.Task.Token');
    expect((sm.Properties!.DefinitionSubstitutions as Record<string, unknown>).ExportQueueUrl).toEqual({ Ref: logicalId(stack.exportQueue) });
    expect(json.Resources[logicalId(stack.exportQueue)].Properties).toMatchObject({ FifoQueue: true });
  });

  it('sends executions that end FAILED, TIMED_OUT or ABORTED to the fail handler through EventBridge', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.states'],
        'detail-type': ['Step Functions Execution Status Change'],
        detail: { status: ['FAILED', 'TIMED_OUT', 'ABORTED'], stateMachineArn: [{ Ref: logicalId(stack.stateMachine) }] },
      },
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [logicalId(stack.functions.fail!.fn), 'Arn'] },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [logicalId(stack.undeliveredEventsQueue), 'Arn'] } },
          RetryPolicy: Match.objectLike({ MaximumEventAgeInSeconds: 86400 }),
        }),
      ],
    });
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: { 'Fn::GetAtt': [logicalId(stack.functions.fail!.fn), 'Arn'] },
      Principal: 'events.amazonaws.com',
      SourceArn: { 'Fn::GetAtt': [logicalId(stack.executionEndedRule), 'Arn'] },
    });
  });
});

describe('the export queue', () => {
  it('is FIFO without content-based dedup, with a FIFO dead-letter queue after 5 receives, SSL enforced', () => {
    const queue = json.Resources[logicalId(stack.exportQueue)].Properties!;
    const dlq = json.Resources[logicalId(stack.exportDeadLetterQueue)].Properties!;
    expect(queue).toMatchObject({
      FifoQueue: true,
      ContentBasedDeduplication: false,
      SqsManagedSseEnabled: true,
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [logicalId(stack.exportDeadLetterQueue), 'Arn'] }, maxReceiveCount: 5 },
    });
    expect(dlq).toMatchObject({ FifoQueue: true });
    for (const q of [stack.exportQueue, stack.exportDeadLetterQueue, stack.undeliveredEventsQueue]) {
      template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: logicalId(q) }],
        PolicyDocument: {
          Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Action: 'sqs:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
        },
      });
    }
  });

  it('is consumed by the Lambda worker one message at a time, with a visibility timeout just above its timeout', () => {
    const worker = fnProps('export');
    expect(worker).toMatchObject({ Timeout: 900, Architectures: ['x86_64'], MemorySize: 4096, EphemeralStorage: { Size: 4096 } });
    expect(worker.Environment.Variables).toMatchObject({ EXPORTER: 'builtin', EXPORT_QUEUE_URL: { Ref: logicalId(stack.exportQueue) } });
    // Above the timeout (AWS requires it), not far above: a worker that dies before its first
    // lease cut hides the single export group for this long.
    const visibility = json.Resources[logicalId(stack.exportQueue)].Properties!.VisibilityTimeout as number;
    expect(visibility).toBeGreaterThan(worker.Timeout);
    expect(visibility).toBeLessThanOrEqual(worker.Timeout + 60);
    expect(worker.Environment.Variables).toMatchObject({ EXPORT_VISIBILITY_SECONDS: '60' });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [logicalId(stack.exportQueue), 'Arn'] },
      FunctionName: { Ref: logicalId(stack.functions.export!.fn) },
      BatchSize: 1,
    });
    expect(stack.exportAgentPolicy).toBeUndefined();
  });

  it('has a consumer on the dead-letter queue that fails the task token of what lands there', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [logicalId(stack.exportDeadLetterQueue), 'Arn'] },
      FunctionName: { Ref: logicalId(stack.functions.exportDlq!.fn) },
      BatchSize: 1,
    });
    expect(fnProps('exportDlq').Handler).toBe('index.handler');
  });
});

describe('storage', () => {
  it('has one on-demand table keyed and indexed as the embedded stack creates it, with TTL and PITR', () => {
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    const table = json.Resources[logicalId(stack.table)].Properties!;
    const index = (name: string, pk: string, sk: string) => ({
      IndexName: name,
      KeySchema: [
        { AttributeName: pk, KeyType: 'HASH' },
        { AttributeName: sk, KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'ALL' },
    });
    expect(table).toMatchObject({
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      GlobalSecondaryIndexes: [index('gsi1', 'gsi1pk', 'gsi1sk'), index('gsi2', 'gsi2pk', 'gsi2sk')],
    });
    expect(
      new Set((table.AttributeDefinitions as Array<{ AttributeName: string; AttributeType: string }>).map((a) => `${a.AttributeName}:${a.AttributeType}`)),
    ).toEqual(new Set(['pk:S', 'gsi1pk:S', 'gsi1sk:S', 'gsi2pk:S', 'gsi2sk:S']));
  });

  it('has an artifact bucket that blocks public access, denies non-SSL requests, encrypts, logs access and expires tasks/', () => {
    const bucket = json.Resources[logicalId(stack.bucket)].Properties!;
    expect(bucket).toMatchObject({
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      LoggingConfiguration: { DestinationBucketName: { Ref: logicalId(stack.accessLogsBucket) } },
    });
    expect(bucket.CorsConfiguration).toBeUndefined();
    expect((bucket.LifecycleConfiguration as { Rules: unknown[] }).Rules).toEqual(
      expect.arrayContaining([expect.objectContaining({ Prefix: 'tasks/', ExpirationInDays: 30, Status: 'Enabled' })]),
    );
    // A document left under inbox/ (its event never handled) lives as long as that event can be
    // replayed from the undelivered-events queue, and no longer.
    const undelivered = json.Resources[logicalId(stack.undeliveredEventsQueue)].Properties!;
    expect((bucket.LifecycleConfiguration as { Rules: unknown[] }).Rules).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ Prefix: 'inbox/', ExpirationInDays: (undelivered.MessageRetentionPeriod as number) / 86_400, Status: 'Enabled' }),
      ]),
    );
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: logicalId(stack.bucket) },
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
      },
    });
  });

  it('starts a task for an object created under inbox/ with a native notification (no custom resource)', () => {
    const bucket = json.Resources[logicalId(stack.bucket)];
    expect(bucket.Properties!.NotificationConfiguration).toEqual({
      LambdaConfigurations: [
        {
          Event: 's3:ObjectCreated:*',
          Function: { 'Fn::GetAtt': [logicalId(stack.functions.inbox!.fn), 'Arn'] },
          Filter: { S3Key: { Rules: [{ Name: 'prefix', Value: 'inbox/' }] } },
        },
      ],
    });
    const [permissionId] = Object.entries(json.Resources).find(
      ([, r]) => r.Type === 'AWS::Lambda::Permission' && r.Properties?.Principal === 's3.amazonaws.com',
    )!;
    expect(bucket.DependsOn).toContain(permissionId);
    expect(Object.values(json.Resources).filter((r) => r.Type.startsWith('Custom::') || r.Type === 'AWS::CloudFormation::CustomResource')).toEqual([]);
  });

  it('has no dependency cycle for CloudFormation to refuse', () => {
    expect(dependencyCycles(json)).toEqual([]);
  });
});

describe('logical ids', () => {
  it('are the ids of the stack deployed before it was divided into rooms, so no resource is replaced', () => {
    // prepare: the ids a deployed stack has (the API deployment's id is a hash of its content by design)
    const deployed = JSON.parse(readFileSync(path.join(import.meta.dirname, '../support/default-stack-logical-ids.json'), 'utf8')) as {
      resources: string[];
      outputs: string[];
    };
    const normalized = (id: string) => id.replace(/^(ApiDeployment[0-9A-F]{8})[0-9a-f]{32}$/, '$1<content hash>');

    // act
    const resources = Object.keys(json.Resources).map(normalized).sort();
    const outputs = Object.keys(json.Outputs ?? {}).sort();

    // assess
    expect(resources).toEqual(deployed.resources);
    expect(outputs).toEqual(deployed.outputs);
    expect(logicalId(stack.table)).toBe('TableCD117FA1');
    expect(logicalId(stack.bucket)).toBe('Artifacts82DD59A1');
  });
});

describe('the API', () => {
  it('requires IAM (SigV4) authorization on every method, and logs access, with stage throttling', () => {
    const methods = resourcesOfType('AWS::ApiGateway::Method');
    expect(methods.length).toBeGreaterThanOrEqual(7);
    for (const [, m] of methods) expect(m.Properties!.AuthorizationType).toBe('AWS_IAM');
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      StageName: 'prod',
      AccessLogSetting: Match.objectLike({ DestinationArn: Match.anyValue() }),
      TracingEnabled: true,
      MethodSettings: [Match.objectLike({ LoggingLevel: 'INFO', ThrottlingRateLimit: 10, ThrottlingBurstLimit: 20, HttpMethod: '*', ResourcePath: '/*' })],
    });
  });

  it('validates the run request body and rewrites its own answers to the {error, message} shape', () => {
    template.hasResourceProperties('AWS::ApiGateway::Method', {
      HttpMethod: 'POST',
      RequestValidatorId: Match.anyValue(),
      RequestModels: { 'application/json': Match.anyValue() },
    });
    template.hasResourceProperties('AWS::ApiGateway::RequestValidator', { ValidateRequestBody: true, ValidateRequestParameters: true });
    const responses = resourcesOfType('AWS::ApiGateway::GatewayResponse').map(([, r]) => r.Properties!);
    expect(responses.map((r) => r.ResponseType)).toEqual(
      expect.arrayContaining(['BAD_REQUEST_BODY', 'MISSING_AUTHENTICATION_TOKEN', 'ACCESS_DENIED', 'THROTTLED', 'DEFAULT_4XX', 'DEFAULT_5XX']),
    );
    for (const r of responses) {
      const body = (r.ResponseTemplates as Record<string, string>)['application/json'];
      // what a client sees once API Gateway fills in $context.error.messageString (a quoted string)
      const parsed = JSON.parse(body.replace('$context.error.messageString', '"Forbidden"'));
      expect(Object.keys(parsed)).toEqual(['error', 'message']);
      expect(parsed.error).toMatch(/^[a-z_]+$/);
    }
  });

  it('reaches every /api route of the API app through API Gateway, on the same paths', () => {
    // prepare: the app's routes, in API Gateway's path syntax (the console's page is for the embedded stack: docs/console.md)
    const app = createApiApp(
      createRuntime({ TABLE_NAME: 't', BUCKET_NAME: 'b', STATE_MACHINE_ARN: 'arn:aws:states:us-east-1:000000000000:stateMachine:x', AWS_REGION: 'us-east-1' }),
    );
    const appRoutes = new Set(
      app.routes
        .filter((r) => r.method !== 'ALL' && r.path.startsWith('/api/'))
        .map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, '{$1}').replace(/\/\*$/, '/{artifact+}')}`),
    );
    // act: every method's full path in the template
    const parts = Object.fromEntries(resourcesOfType('AWS::ApiGateway::Resource').map(([id, r]) => [id, r.Properties!]));
    const fullPath = (ref: unknown): string => {
      const id = (ref as { Ref?: string }).Ref;
      if (!id || !parts[id]) return '';
      return `${fullPath(parts[id].ParentId)}/${String(parts[id].PathPart)}`;
    };
    const gatewayRoutes = new Set(
      resourcesOfType('AWS::ApiGateway::Method').map(([, m]) => `${String(m.Properties!.HttpMethod)} ${fullPath(m.Properties!.ResourceId)}`),
    );
    // assess
    expect(gatewayRoutes).toEqual(appRoutes);
  });

  it('answers artifacts with a redirect to a presigned URL (API Gateway cannot carry a video)', () => {
    expect(fnProps('api').Environment.Variables).toMatchObject({
      ARTIFACT_DELIVERY: 'redirect',
      MEDIA_UPLOAD: 'presigned',
      STATE_MACHINE_ARN: { Ref: logicalId(stack.stateMachine) },
    });
  });
});

describe('the functions', () => {
  const STATE_OF: Partial<Record<PipelineFunctionName, string>> = {
    start: 'Start',
    story: 'Story',
    tts: 'Tts',
    draft: 'Draft',
    finalize: 'Finalize',
    // fail is no state's function: the execution-ended rule invokes it
  };

  it('run nodejs22.x on arm64 (x86_64 only for the ffmpeg worker, and the API, story and Draft, which probe media with the x86_64 ffprobe), traced, each with its own log group and retention', () => {
    expect(Object.keys(stack.functions).sort()).toEqual(
      ['api', 'draft', 'exportDlq', 'export', 'fail', 'finalize', 'inbox', 'start', 'story', 'tts', 'webhook'].sort(),
    );
    for (const name of Object.keys(stack.functions) as PipelineFunctionName[]) {
      const p = fnProps(name);
      expect(p.Runtime, name).toBe('nodejs22.x');
      expect(p.Architectures, name).toEqual([['export', 'api', 'story', 'draft'].includes(name) ? 'x86_64' : 'arm64']);
      expect(p.TracingConfig, name).toEqual({ Mode: 'Active' });
      expect(p.LoggingConfig, name).toEqual({ LogGroup: { Ref: logicalId(stack.functions[name]!.logGroup) } });
      expect(json.Resources[logicalId(stack.functions[name]!.logGroup)].Properties!.RetentionInDays, name).toBe(30);
    }
  });

  it("time out before their state's TimeoutSeconds, so Lambda's own error reaches the Retry and Catch", () => {
    const states = pipelineDefinition(DEFAULT_DEFINITION_OPTIONS).States as Record<string, { TimeoutSeconds: number }>;
    for (const [name, state] of Object.entries(STATE_OF) as Array<[PipelineFunctionName, string]>) {
      expect(fnProps(name).Timeout, name).toBeLessThan(states[state].TimeoutSeconds);
    }
    expect(fnProps('api').Timeout).toBeLessThanOrEqual(29);
  });

  it('bundle eSpeak NG (with its voice data) beside the TTS code, and ffmpeg, ffprobe and Noto Sans SC beside the export worker', () => {
    const tts = assetDirOf('tts');
    expect(existsSync(path.join(tts, 'index.mjs'))).toBe(true);
    expect(statSync(path.join(tts, 'node_modules/@echogarden/espeak-ng-emscripten/espeak-ng.data')).size).toBeGreaterThan(20_000_000);
    const worker = assetDirOf('export');
    for (const binary of ['@ffmpeg-installer/linux-x64/ffmpeg', '@ffprobe-installer/linux-x64/ffprobe']) {
      const mode = statSync(path.join(worker, 'node_modules', binary)).mode;
      expect(mode & 0o005, `${binary} must be readable and executable by others (Lambda's user)`).toBe(0o005);
    }
    // resolved from the bundle exactly as the renderer resolves them
    const requireFromBundle = createRequire(path.join(worker, 'index.mjs'));
    expect(existsSync(requireFromBundle('@ffmpeg-installer/ffmpeg').path)).toBe(true);
    expect(existsSync(requireFromBundle('@ffprobe-installer/ffprobe').path)).toBe(true);
    const fonts = path.dirname(requireFromBundle.resolve('@expo-google-fonts/noto-sans-sc/package.json'));
    expect(existsSync(path.join(fonts, '400Regular/NotoSansSC_400Regular.ttf'))).toBe(true);
    expect(existsSync(path.join(fonts, '700Bold/NotoSansSC_700Bold.ttf'))).toBe(true);
    if (process.arch === 'x64') {
      expect(execFileSync(requireFromBundle('@ffmpeg-installer/ffmpeg').path, ['-hide_banner', '-version']).toString()).toMatch(/^ffmpeg version/);
    }
    // the story prompts, read beside the module at run time, and the ffprobe that checks the clips it watches
    expect(existsSync(path.join(assetDirOf('story'), 'prompts/narration-v1.txt'))).toBe(true);
    expect(existsSync(path.join(assetDirOf('story'), 'prompts/footage-v1.txt'))).toBe(true);
    expect(existsSync(createRequire(path.join(assetDirOf('story'), 'index.mjs'))('@ffprobe-installer/ffprobe').path)).toBe(true);
    // a function without packages ships its one file
    expect(existsSync(path.join(assetDirOf('start'), 'node_modules'))).toBe(false);
  });

  it('load as the ESM bundles Lambda runs, each exporting its handler', () => {
    // prepare: a plain Node process (Node's own ESM loader, as on Lambda), the handlers' settings
    const bundles = Object.fromEntries(
      (Object.keys(stack.functions) as PipelineFunctionName[]).map((name) => [name, pathToFileURL(path.join(assetDirOf(name), 'index.mjs')).href]),
    );
    const espeak = pathToFileURL(path.join(assetDirOf('tts'), 'node_modules/@echogarden/espeak-ng-emscripten/espeak-ng.js')).href;
    const script = `
      const out = {};
      for (const [name, url] of Object.entries(${JSON.stringify(bundles)})) out[name] = typeof (await import(url)).handler;
      // eSpeak NG finds its voice data beside its own file, in the bundle's node_modules
      const worker = new (await (await import(${JSON.stringify(espeak)})).default()).eSpeakNGWorker();
      out.espeakVoice = worker.set_voice('cmn');
      let samples = 0;
      worker.synthesize('你好', (chunk) => { samples += chunk.length; });
      out.espeakSamples = samples;
      process.stdout.write(JSON.stringify(out));
    `;
    const env = {
      PATH: process.env.PATH ?? '',
      TABLE_NAME: 'table',
      BUCKET_NAME: 'bucket',
      STATE_MACHINE_ARN: `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:x`,
      EXPORT_QUEUE_URL: `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/q.fifo`,
      EXPORTER: 'builtin',
      WEBHOOK_QUEUE_URL: `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/webhook`,
      WEBHOOK_SECRET_ARN: `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:webhook-AbCdEf`,
      AWS_REGION: REGION,
    };

    // act
    const out = JSON.parse(
      execFileSync(process.execPath, ['--input-type=module', '-e', script], { env, cwd: tmpdir(), stdio: ['ignore', 'pipe', 'ignore'] }).toString(),
    );

    // assess
    for (const name of Object.keys(bundles)) expect(out[name], name).toBe('function');
    expect(out.espeakVoice).toBe(0);
    expect(out.espeakSamples).toBeGreaterThan(1000);
  }, 60_000);

  it('get only settings that name them among their readers (docs/settings.md, "read by")', () => {
    const stray: string[] = [];
    for (const [name, f] of Object.entries(stack.functions)) {
      const reader = name === 'exportDlq' ? 'export-dlq' : name;
      const variables = Object.keys(
        (json.Resources[logicalId(f.fn)].Properties as { Environment: { Variables: Record<string, unknown> } }).Environment.Variables,
      );
      for (const variable of variables) {
        const field = (Object.keys(SETTING_ENV) as Array<keyof Settings>).find((k) => SETTING_ENV[k] === variable);
        const readBy = field && settingMetaOf(field).readBy;
        if (!readBy || (readBy !== 'all' && !readBy.includes(reader as SettingReader))) stray.push(`${name}: ${variable}`);
      }
    }
    expect(stray).toEqual([]);
  });
});

describe('least privilege', () => {
  const BUCKET = 'arn:<AWS::Partition>:s3:::reelpipeline-artifacts-<AWS::AccountId>-<AWS::Region>';
  const policyOf = (name: PipelineFunctionName) =>
    statementsOfRole(json, logicalId(stack.functions[name]!.role))
      .map((s) => describeStatement(s, names).split(BUCKET).join('<bucket>'))
      .sort();
  const items = (actions: string, kind: string) =>
    `${actions
      .split(',')
      .map((a) => `dynamodb:${a}`)
      .sort()
      .join(',')} on <Table.Arn> [ForAllValues:StringLike dynamodb:LeadingKeys=${kind}#*]`;
  const base = (name: string) => [`logs:CreateLogStream,logs:PutLogEvents on <logs:${name}.Arn>`, 'xray:PutTelemetryRecords,xray:PutTraceSegments on *'];
  const LIST = 's3:ListBucket on <bucket>';
  const WEBHOOK_SEND = 'sqs:GetQueueAttributes,sqs:GetQueueUrl,sqs:SendMessage on <WebhookQueue.Arn>';
  const TASK_OBJECTS = 's3:GetObject,s3:PutObject on <bucket>/tasks/*';
  const SUBMIT_ITEMS = [
    items('GetItem,PutItem,DeleteItem', 'LOCK'),
    items('GetItem,PutItem,UpdateItem', 'TASK'),
    items('GetItem,PutItem,UpdateItem,DeleteItem', 'IDEM'),
  ];

  /** Exactly these statements, function by function. */
  const EXPECTED: Record<PipelineFunctionName, string[]> = {
    api: [
      ...base('api'),
      ...SUBMIT_ITEMS,
      'dynamodb:Query on <Table.Arn>/index/gsi1 <Table.Arn>/index/gsi2',
      's3:GetObject,s3:PutObject on <bucket>/sources/* <bucket>/tasks/*',
      // DELETE of one media or music file; the abort of a streamed upload that failed part-way.
      's3:AbortMultipartUpload,s3:DeleteObject on <bucket>/sources/*/media/* <bucket>/sources/*/music/*',
      LIST,
      'states:StartExecution on <StateMachine>',
      'states:DescribeExecution,states:RedriveExecution,states:StopExecution on arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:<StateMachine.Name>:*',
      // Cancel queues the task's completion webhook.
      WEBHOOK_SEND,
    ],
    inbox: [
      ...base('inbox'),
      ...SUBMIT_ITEMS,
      's3:DeleteObject,s3:GetObject on <bucket>/inbox/*',
      's3:PutObject on <bucket>/inbox-accepted/* <bucket>/inbox-rejected/* <bucket>/tasks/*',
      's3:GetObject on <bucket>/sources/*',
      LIST,
      'states:StartExecution on <StateMachine>',
      'states:DescribeExecution on arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:<StateMachine.Name>:*',
      'sqs:GetQueueAttributes,sqs:GetQueueUrl,sqs:SendMessage on <UndeliveredEvents.Arn>',
    ],
    start: [...base('start'), items('GetItem', 'TASK'), items('UpdateItem', 'LOCK')],
    // The story probes the creator's clips and streams them to the Gemini Files API (read only).
    story: [
      ...base('story'),
      items('GetItem,UpdateItem', 'TASK'),
      items('GetItem,PutItem,UpdateItem,DeleteItem', 'RATE'),
      TASK_OBJECTS,
      's3:GetObject on <bucket>/sources/*/media/*',
      LIST,
    ],
    tts: [...base('tts'), items('GetItem,UpdateItem', 'TASK'), items('GetItem,PutItem,UpdateItem,DeleteItem', 'RATE'), TASK_OBJECTS, LIST],
    // Draft snapshots the creator's media and music from sources/<creator>/<video>/media/ and music/ (read only).
    // Its editor-draft archive is a multipart upload (aborted when it fails).
    draft: [
      ...base('draft'),
      items('GetItem,UpdateItem', 'TASK'),
      's3:AbortMultipartUpload,s3:GetObject,s3:PutObject on <bucket>/tasks/*',
      's3:GetObject on <bucket>/sources/*/media/* <bucket>/sources/*/music/*',
      LIST,
    ],
    finalize: [...base('finalize'), items('GetItem,UpdateItem', 'TASK'), items('DeleteItem', 'LOCK'), TASK_OBJECTS, LIST, WEBHOOK_SEND],
    fail: [
      ...base('fail'),
      items('GetItem,UpdateItem', 'TASK'),
      items('DeleteItem', 'LOCK'),
      'sqs:GetQueueAttributes,sqs:GetQueueUrl,sqs:SendMessage on <UndeliveredEvents.Arn>',
      WEBHOOK_SEND,
    ],
    export: [
      ...base('export'),
      'states:SendTaskFailure,states:SendTaskHeartbeat,states:SendTaskSuccess on *',
      's3:AbortMultipartUpload,s3:GetObject,s3:PutObject on <bucket>/tasks/*',
      LIST,
      items('GetItem,UpdateItem', 'TASK'),
      'dynamodb:Query on <Table.Arn>/index/gsi2',
      'sqs:ChangeMessageVisibility,sqs:DeleteMessage,sqs:GetQueueAttributes,sqs:GetQueueUrl,sqs:ReceiveMessage on <ExportQueue.Arn>',
    ],
    exportDlq: [
      ...base('exportDlq'),
      'sqs:ChangeMessageVisibility,sqs:DeleteMessage,sqs:GetQueueAttributes,sqs:GetQueueUrl,sqs:ReceiveMessage on <ExportDLQ.Arn>',
      'states:SendTaskFailure on *',
    ],
    // One POST per message; a retry is a new message with a delay; the attempt is logged on the task.
    webhook: [
      ...base('webhook'),
      'sqs:ChangeMessageVisibility,sqs:DeleteMessage,sqs:GetQueueAttributes,sqs:GetQueueUrl,sqs:ReceiveMessage on <WebhookQueue.Arn>',
      WEBHOOK_SEND,
      items('UpdateItem', 'TASK'),
      'secretsmanager:GetSecretValue on <WebhookSecret>',
    ],
  };

  for (const name of Object.keys(EXPECTED) as PipelineFunctionName[]) {
    it(`gives the ${name} function exactly the actions on exactly the resources it uses`, () => {
      expect(policyOf(name)).toEqual(EXPECTED[name].slice().sort());
    });
  }

  it('lets only the export worker report task success, and keeps the story function off the export queue', () => {
    const holders = (Object.keys(stack.functions) as PipelineFunctionName[]).filter((n) => policyOf(n).some((l) => l.includes('states:SendTaskSuccess')));
    expect(holders).toEqual(['export']);
    expect(policyOf('story').some((l) => l.includes('ExportQueue'))).toBe(false);
  });

  /** The only statements allowed a `*` resource: AWS offers nothing narrower for these actions. */
  const STAR_RESOURCE_ACTIONS = new Set([
    // X-Ray: trace segments and sampling have no resource-level permissions
    'xray:PutTraceSegments',
    'xray:PutTelemetryRecords',
    'xray:GetSamplingRules',
    'xray:GetSamplingTargets',
    // Step Functions task tokens: SendTask* has no resource-level permissions
    'states:SendTaskSuccess',
    'states:SendTaskFailure',
    'states:SendTaskHeartbeat',
    // CloudWatch Logs vended-log delivery, required for the state machine's logging
    'logs:CreateLogDelivery',
    'logs:GetLogDelivery',
    'logs:UpdateLogDelivery',
    'logs:DeleteLogDelivery',
    'logs:ListLogDeliveries',
    'logs:PutResourcePolicy',
    'logs:DescribeResourcePolicies',
    'logs:DescribeLogGroups',
  ]);

  it('has no wildcard action anywhere, and a * resource only for the named actions AWS offers nothing narrower for', () => {
    const policies = Object.values(json.Resources).filter(
      (r) => r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy' || r.Type === 'AWS::IAM::Role',
    );
    const statements = policies.flatMap((r) => [
      ...((r.Properties?.PolicyDocument as { Statement?: any[] })?.Statement ?? []),
      ...((r.Properties?.Policies as Array<{ PolicyDocument: { Statement: any[] } }>) ?? []).flatMap((p) => p.PolicyDocument.Statement),
    ]);
    expect(statements.length).toBeGreaterThan(30);
    for (const s of statements.filter((x) => x.Effect === 'Allow')) {
      const actions: string[] = [s.Action].flat();
      for (const action of actions) expect(action, JSON.stringify(s)).not.toContain('*');
      const resources = [s.Resource].flat();
      if (resources.includes('*')) for (const action of actions) expect(STAR_RESOURCE_ACTIONS, `${action} on *`).toContain(action);
    }
  });

  // The definition no longer invokes the fail function (no RecordFailure
  // state); EventBridge invokes it, so the state machine's role may not.
  it('lets the state machine invoke only its five functions (unqualified) and send only to the export queue', () => {
    const role = stack.stateMachine.role.node.defaultChild as CfnElement;
    const lines = statementsOfRole(json, stack.getLogicalId(role)).map((s) => describeStatement(s, names));
    expect(lines).toContain('lambda:InvokeFunction on <fn:draft.Arn> <fn:finalize.Arn> <fn:start.Arn> <fn:story.Arn> <fn:tts.Arn>');
    expect(lines).toContain('sqs:SendMessage on <ExportQueue.Arn>');
    expect(lines).toHaveLength(4);
  });
});

describe('observability', () => {
  it('has a dashboard with submissions, duplicates, executions, stage durations, the export queue, dead letters, rate-limit waits and Lambda errors and throttles', () => {
    const [, dashboard] = resourcesOfType('AWS::CloudWatch::Dashboard')[0];
    const body = JSON.stringify(dashboard.Properties!.DashboardBody);
    for (const text of [
      'TasksSubmitted',
      'DuplicatesRejected',
      'ExecutionsStarted',
      'ExecutionsSucceeded',
      'ExecutionsFailed',
      'StageDurationMs',
      'ApproximateNumberOfMessagesVisible',
      'ApproximateAgeOfOldestMessage',
      'RateLimitWaits',
      'Errors',
      'Throttles',
      'ReelPipeline',
    ]) {
      expect(body, text).toContain(text);
    }
  });

  it('alarms on DLQ depth > 0, dead letters the consumer gave up on, failed executions, export queue age and API 5xx', () => {
    const alarms = resourcesOfType('AWS::CloudWatch::Alarm').map(([, a]) => a.Properties!);
    const uses = (metricName: string) => alarms.filter((a) => JSON.stringify(a).includes(`"MetricName":"${metricName}"`));
    expect(
      uses('ApproximateNumberOfMessagesVisible').some((a) => JSON.stringify(a).includes(logicalId(stack.exportDeadLetterQueue)) && a.Threshold === 0),
    ).toBe(true);
    expect(uses('ExecutionsFailed')).toHaveLength(1);
    expect(uses('ApproximateAgeOfOldestMessage')[0]).toMatchObject({ Threshold: 3600, ComparisonOperator: 'GreaterThanThreshold' });
    expect(uses('5XXError')[0]).toMatchObject({ Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' });
    // The metric the dead-letter consumer (shared/export/dead-letter.ts) emits when it gives up on a message.
    expect(uses('DeadLettersUnresolved')).toEqual([
      expect.objectContaining({ Namespace: METRIC_NAMESPACE, Statistic: 'Sum', Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' }),
    ]);
    // A webhook message the webhook function kept crashing on.
    expect(
      uses('ApproximateNumberOfMessagesVisible').some(
        (a) => JSON.stringify(a).includes(logicalId(stack.webhookQueue.deadLetterQueue!.queue)) && a.Threshold === 0,
      ),
    ).toBe(true);
    expect(alarms).toHaveLength(7);
  });

  it('outputs the API URL, the bucket, the queue and the dashboard URL', () => {
    const outputs = Object.keys(json.Outputs ?? {});
    expect(outputs).toEqual(expect.arrayContaining(['ApiUrl', 'BucketName', 'ExportQueueUrl', 'DashboardUrl']));
  });
});
