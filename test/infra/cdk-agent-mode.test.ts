import { App, type CfnElement } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { Construct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { PipelineStack } from '../../infra/cdk/pipeline-stack.js';
import { DEFAULT_PIPELINE_SETTINGS, PipelineSettingError, pipelineSettingsFromContext, resolvePipelineSettings } from '../../infra/cdk/pipeline-settings.js';
import { describeStatement, flatten, statementsOfRole, type CfnTemplate, type PolicyStatementJson } from '../../infra/cdk/template-inspection.js';

/**
 * The other export paths and providers: the export agent next to the JianYing box (`agent` +
 * `http`) with Gemini and Polly, and a Lambda worker driving a remote exporter (`lambda` +
 * `http`). Template only: bundling is skipped (the default stack's test bundles for real).
 */
const synth = (id: string, props: ConstructorParameters<typeof PipelineStack>[2]) => {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false, treeMetadata: false });
  const stack = new PipelineStack(app, id, props);
  const template = Template.fromStack(stack);
  return { stack, template, json: template.toJSON() as CfnTemplate };
};
const logicalId = (stack: PipelineStack, c: Construct) => stack.getLogicalId(c.node.defaultChild as CfnElement);

describe('agent mode with the http exporter, Gemini and Polly', () => {
  let agent: ReturnType<typeof synth>;
  beforeAll(() => {
    agent = synth('ReelPipelineAgent', {
      exportWorker: 'agent',
      exporter: 'http',
      storyProvider: 'gemini',
      geminiModel: 'gemini-2.5-pro',
      ttsProvider: 'polly',
      pollyVoiceCmnFemale: 'Zhiyu',
    });
  }, 120_000);

  it('has no export worker function and no event source on the export queue', () => {
    expect(agent.stack.functions.export).toBeUndefined();
    // The webhook queue has its consumer in every mode; no other queue but the dead-letter queue has one.
    const webhookQueue = JSON.stringify({ 'Fn::GetAtt': [logicalId(agent.stack, agent.stack.webhookQueue), 'Arn'] });
    const sources = Object.values(agent.json.Resources).filter(
      (r) => r.Type === 'AWS::Lambda::EventSourceMapping' && JSON.stringify(r.Properties!.EventSourceArn) !== webhookQueue,
    );
    expect(sources).toHaveLength(1);
    expect(sources[0].Properties!.EventSourceArn).toEqual({ 'Fn::GetAtt': [logicalId(agent.stack, agent.stack.exportDeadLetterQueue), 'Arn'] });
  });

  it('outputs the queue URL and a least-privilege policy for the agent: this queue, task tokens, tasks/ objects, TASK# items', () => {
    const { stack, json } = agent;
    expect(json.Outputs).toMatchObject({
      ExportQueueUrl: { Value: { Ref: logicalId(stack, stack.exportQueue) } },
      ExportAgentPolicyArn: { Value: { Ref: logicalId(stack, stack.exportAgentPolicy!) } },
      ExportAgentEnvironment: { Value: expect.anything() },
    });
    const policy = json.Resources[logicalId(stack, stack.exportAgentPolicy!)].Properties!;
    const names = { [logicalId(stack, stack.exportQueue)]: 'ExportQueue', [logicalId(stack, stack.table)]: 'Table' };
    const bucket = 'arn:<AWS::Partition>:s3:::reelpipelineagent-artifacts-<AWS::AccountId>-<AWS::Region>';
    const lines = (policy.PolicyDocument as { Statement: PolicyStatementJson[] }).Statement.map((s) =>
      describeStatement(s, names).split(bucket).join('<bucket>'),
    );
    expect(lines.sort()).toEqual(
      [
        'sqs:ChangeMessageVisibility,sqs:DeleteMessage,sqs:ReceiveMessage on <ExportQueue.Arn>',
        'states:SendTaskFailure,states:SendTaskHeartbeat,states:SendTaskSuccess on *',
        's3:AbortMultipartUpload,s3:GetObject,s3:PutObject on <bucket>/tasks/*',
        's3:ListBucket on <bucket>',
        'dynamodb:GetItem,dynamodb:UpdateItem on <Table.Arn> [ForAllValues:StringLike dynamodb:LeadingKeys=TASK#*]',
        'dynamodb:Query on <Table.Arn>/index/gsi2',
      ].sort(),
    );
    expect(policy.Roles ?? policy.Users ?? policy.Groups).toBeUndefined();
  });

  it('reads the Gemini key from Secrets Manager: the template carries its ARN, never the key', () => {
    const { stack, json } = agent;
    const story = json.Resources[logicalId(stack, stack.functions.story!.fn)].Properties as { Environment: { Variables: Record<string, unknown> } };
    const secretId = logicalId(stack, stack.geminiSecret as unknown as Construct);
    expect(story.Environment.Variables).toMatchObject({ GEMINI_MODEL: 'gemini-2.5-pro', GEMINI_API_KEY_SECRET_ARN: { Ref: secretId } });
    expect(story.Environment.Variables.GEMINI_API_KEY).toBeUndefined();
    // the submitting functions learn from the ARN that the story can watch the footage (no grant to read it)
    for (const name of ['api', 'inbox'] as const) {
      const fn = json.Resources[logicalId(stack, stack.functions[name]!.fn)].Properties as { Environment: { Variables: Record<string, unknown> } };
      expect(fn.Environment.Variables, name).toMatchObject({ GEMINI_API_KEY_SECRET_ARN: { Ref: secretId } });
    }
    expect(JSON.stringify(json)).not.toMatch(/"GEMINI_API_KEY"/);
    expect(json.Resources[secretId].Type).toBe('AWS::SecretsManager::Secret');
    const statements = Object.values(json.Resources)
      .filter((r) => r.Type === 'AWS::IAM::Policy')
      .flatMap((r) => (r.Properties!.PolicyDocument as { Statement: PolicyStatementJson[] }).Statement)
      .filter((s) => JSON.stringify(s.Action).includes('secretsmanager'));
    const webhookSecretId = logicalId(stack, stack.webhookSecret);
    expect(statements.map((s) => describeStatement(s)).sort()).toEqual(
      [`secretsmanager:GetSecretValue on <${secretId}>`, `secretsmanager:GetSecretValue on <${webhookSecretId}>`].sort(),
    );
  });

  it('narrates with Polly and the chosen voice, allowed SynthesizeSpeech only', () => {
    const { stack, template } = agent;
    template.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: Match.absent(),
      Environment: { Variables: Match.objectLike({ TTS_PROVIDER: 'polly', POLLY_ENGINE: 'neural', POLLY_VOICE_CMN_FEMALE: 'Zhiyu' }) },
    });
    const ttsRole = logicalId(stack, stack.functions.tts!.role);
    const pollyStatements = Object.values(agent.json.Resources)
      .filter((r) => r.Type === 'AWS::IAM::Policy' && (r.Properties!.Roles as unknown[]).some((x) => flatten(x) === `<${ttsRole}>`))
      .flatMap((r) => (r.Properties!.PolicyDocument as { Statement: PolicyStatementJson[] }).Statement)
      .filter((s) => JSON.stringify(s.Action).includes('polly'));
    expect(pollyStatements.map((s) => describeStatement(s))).toEqual(['polly:SynthesizeSpeech on *']);
  });
});

describe('the Lambda worker with the http exporter', () => {
  let remote: ReturnType<typeof synth>;
  beforeAll(() => {
    remote = synth('ReelPipelineRemote', { exporter: 'http', exportVideoUrl: 'https://exporter.example.com' });
  }, 120_000);

  it('drives the exporter at the URL from an arm64 function without ffmpeg, one message at a time', () => {
    const { stack, json, template } = remote;
    const worker = json.Resources[logicalId(stack, stack.functions.export!.fn)].Properties as Record<string, any>;
    expect(worker).toMatchObject({ Architectures: ['arm64'], MemorySize: 1024, Timeout: 900 });
    expect(worker.Environment.Variables).toMatchObject({ EXPORTER: 'http', EXPORT_VIDEO_URL: 'https://exporter.example.com' });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [logicalId(stack, stack.exportQueue), 'Arn'] },
      BatchSize: 1,
    });
  });

  /** Statements of every policy in the template that mention Secrets Manager, with the roles they attach to. */
  const secretReaders = (json: CfnTemplate) =>
    Object.values(json.Resources)
      .filter((r) => r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy')
      .flatMap((r) =>
        (r.Properties!.PolicyDocument as { Statement: PolicyStatementJson[] }).Statement.filter((s) =>
          /secretsmanager|"\*"/.test(JSON.stringify(s.Action)),
        ).map((s) => `${((r.Properties!.Roles ?? []) as Array<{ Ref: string }>).map((role) => role.Ref).join(',') || '(no role)'}: ${describeStatement(s)}`),
      );

  /** The webhook signing key's one reader, in every mode: the webhook function. */
  const webhookSecretReader = (stack: PipelineStack) =>
    `${logicalId(stack, stack.functions.webhook!.role)}: secretsmanager:GetSecretValue on <${logicalId(stack, stack.webhookSecret)}>`;

  it("generates the exporter's bearer token in Secrets Manager; only the export worker may read it, and the template never holds it", () => {
    const { stack, json, template } = remote;
    const secretId = logicalId(stack, stack.exportAuthSecret as unknown as Construct);
    const workerRole = logicalId(stack, stack.functions.export!.role);
    const worker = json.Resources[logicalId(stack, stack.functions.export!.fn)].Properties as Record<string, any>;

    expect(json.Resources[secretId]).toMatchObject({
      Type: 'AWS::SecretsManager::Secret',
      Properties: { GenerateSecretString: { PasswordLength: 48, ExcludePunctuation: true } },
    });
    expect(worker.Environment.Variables.EXPORT_AUTH_SECRET_ARN).toEqual({ Ref: secretId });
    expect(worker.Environment.Variables.EXPORT_AUTH_TOKEN).toBeUndefined();
    expect(secretReaders(json).sort()).toEqual([`${workerRole}: secretsmanager:GetSecretValue on <${secretId}>`, webhookSecretReader(stack)].sort());
    template.hasOutput('ExportAuthSecretArn', { Value: { Ref: secretId } });
  });

  it("uses the team's existing secret when exportAuthSecretArn names one", () => {
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:jianying-exporter-AbCdEf';
    const { stack, json } = synth('ReelPipelineRemoteOwnSecret', {
      exporter: 'http',
      exportVideoUrl: 'https://exporter.example.com',
      exportAuthSecretArn: arn,
    });
    const worker = json.Resources[logicalId(stack, stack.functions.export!.fn)].Properties as Record<string, any>;

    const webhookSecretId = logicalId(stack, stack.webhookSecret);
    expect(Object.entries(json.Resources).filter(([id, r]) => r.Type === 'AWS::SecretsManager::Secret' && id !== webhookSecretId)).toEqual([]);
    expect(worker.Environment.Variables.EXPORT_AUTH_SECRET_ARN).toBe(arn);
    expect(secretReaders(json).sort()).toEqual(
      [`${logicalId(stack, stack.functions.export!.role)}: secretsmanager:GetSecretValue on ${arn}`, webhookSecretReader(stack)].sort(),
    );
    expect(() => resolvePipelineSettings({ exporter: 'http', exportVideoUrl: 'https://x', exportAuthSecretArn: 'token' })).toThrow(
      /Setting exportAuthSecretArn/,
    );
  }, 60_000);
  it('may re-send a message that waited out an exporter outage to the export queue, and send nowhere else', () => {
    const { stack, json } = remote;
    const names = { [logicalId(stack, stack.exportQueue)]: 'ExportQueue' };
    const sends = statementsOfRole(json, logicalId(stack, stack.functions.export!.role))
      .map((s) => describeStatement(s, names))
      .filter((l) => l.includes('sqs:SendMessage'));
    expect(sends).toEqual(['sqs:SendMessage on <ExportQueue.Arn>']);
  });

  it('keeps the queue visibility just above the worker timeout and gives the worker a one-minute lease', () => {
    const { stack, json } = remote;
    const worker = json.Resources[logicalId(stack, stack.functions.export!.fn)].Properties as Record<string, any>;
    const visibility = json.Resources[logicalId(stack, stack.exportQueue)].Properties!.VisibilityTimeout as number;
    expect(visibility).toBeGreaterThan(worker.Timeout);
    expect(visibility).toBeLessThanOrEqual(worker.Timeout + 60);
    expect(worker.Environment.Variables).toMatchObject({ EXPORT_VISIBILITY_SECONDS: '60' });
  });
});

describe('settings', () => {
  it('has a documented default for every setting, and the stack uses them when given none', () => {
    expect(resolvePipelineSettings({})).toEqual(DEFAULT_PIPELINE_SETTINGS);
  });

  it('reads every setting from CDK context by its own name, numbers and booleans included', () => {
    const app = new App({ context: { exportWorker: 'agent', artifactRetentionDays: '14', apiGatewayCloudWatchRole: 'false', unrelated: 'x' } });
    const given = pipelineSettingsFromContext(app.node);
    expect(resolvePipelineSettings(given)).toMatchObject({ exportWorker: 'agent', artifactRetentionDays: 14, apiGatewayCloudWatchRole: false });
    expect(Object.keys(given).sort()).toEqual(['apiGatewayCloudWatchRole', 'artifactRetentionDays', 'exportWorker']);
  });

  it('refuses combinations and values it cannot deploy, naming the setting', () => {
    expect(() => resolvePipelineSettings({ exporter: 'http' })).toThrow(/Setting exportVideoUrl/);
    expect(() => resolvePipelineSettings({ exportWorker: 'cluster' as never })).toThrow(PipelineSettingError);
    expect(() => resolvePipelineSettings({ exportMaxReceiveCount: 2 })).toThrow(/exportMaxReceiveCount/);
    expect(() => resolvePipelineSettings({ logRetentionDays: 10 })).toThrow(/logRetentionDays/);
    expect(() => resolvePipelineSettings({ artifactRetentionDays: 'soon' as never })).toThrow(/expected a number/);
    expect(() => resolvePipelineSettings({ geminiApiKeySecretArn: 'my-key' })).toThrow(/geminiApiKeySecretArn/);
    expect(() => resolvePipelineSettings({ ttsProvider: 'http' })).toThrow(/Setting ttsUrl/);
    expect(() => resolvePipelineSettings({ exportWorker: 'agent', exporter: 'builtin' })).toThrow(/Setting exporter/);
  });

  it('drives an export service in agent mode whatever the default exporter is', () => {
    expect(resolvePipelineSettings({ exportWorker: 'agent' }).exporter).toBe('http');
  });
});
