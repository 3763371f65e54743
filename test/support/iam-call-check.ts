/**
 * Checks recorded AWS calls (test/support/aws-call-recorder.ts) against the policies of the
 * synthesized CDK template: every call an embedded-stack handler made must be allowed to the
 * role that function has on AWS, in every deployment mode the stack supports.
 *
 * The embedded world is mapped onto the template as follows:
 * - principal `api`, `inbox`, `start`, `story`, `tts`, `draft`, `finalize`, `fail`, `exportDlq`, `webhook`
 *   → that function's role;
 * - `export` (the in-process export agent) → the export worker Lambda's role in
 *   `lambda`+`builtin` and `lambda`+`http`, and the ExportAgentPolicy in `agent`+`http`;
 * - `stateMachine` → the state machine's role;
 * - the embedded table, bucket, export queue, dead-letter queue, webhook queue and state machine → the
 *   template's (names and ARNs resolved from its intrinsics, account/region/partition of the
 *   embedded stack).
 * The deployment's providers follow the handlers' settings (TTS_PROVIDER, Gemini on or off),
 * so a stack running Polly is checked against the template deployed with Polly.
 *
 * Templates are synthesized without bundling (< 1 s) and cached in the OS temp dir under a hash
 * of infra/cdk, shared/ and the lockfile, so files after the first read JSON.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EmbeddedPrincipal } from '../../infra/embedded/aws-principal.js';
import { ACCOUNT, BUCKET_NAME, EXPORT_DLQ, EXPORT_QUEUE, REGION, STATE_MACHINE_ARN, TABLE_NAME } from '../../infra/embedded/embedded-names.js';
import type { CfnTemplate, PolicyStatementJson } from '../../infra/cdk/template-inspection.js';
import type { PipelineSettings } from '../../infra/cdk/pipeline-settings.js';
import type { Settings } from '../../shared/settings.js';
import type { IamRequest, RecordedCall } from './aws-call-recorder.js';
import { WEBHOOK_QUEUE } from '../../shared/resources/queues.js';
import { isAllowed, type ResolvedStatement } from './iam-policy.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** A deployment mode: the CDK props that change who holds which grant. */
export type DeploymentProps = Partial<PipelineSettings>;

/** The export paths the CDK supports (README, infra/cdk/pipeline-settings.ts). */
export const WORKER_MODES: ReadonlyArray<{ name: string; props: DeploymentProps }> = [
  { name: 'lambda+builtin', props: { exportWorker: 'lambda', exporter: 'builtin' } },
  { name: 'lambda+http', props: { exportWorker: 'lambda', exporter: 'http', exportVideoUrl: 'https://exporter.example.com' } },
  { name: 'agent+http', props: { exportWorker: 'agent', exporter: 'http' } },
];

/** What the template says, with the logical ids the checker needs. */
export interface SynthesizedPolicies {
  template: CfnTemplate;
  /** role logical id per function, `stateMachine` included */
  roles: Partial<Record<EmbeddedPrincipal, string>>;
  exportAgentPolicy?: string;
  ids: { table: string; bucket: string; exportQueue: string; exportDlq: string; webhookQueue: string; stateMachine: string };
}

/** The providers of a deployment that runs the handlers with these settings. */
export function deploymentOf(settings: Settings): DeploymentProps {
  const gemini = Boolean(settings.geminiApiKey || settings.geminiApiKeySecretArn);
  return {
    ttsProvider: settings.ttsProvider,
    ...(settings.ttsProvider === 'http' ? { ttsUrl: 'https://tts.example.com' } : {}),
    storyProvider: gemini ? 'gemini' : 'passthrough',
    ...(gemini && settings.geminiApiKeySecretArn ? { geminiApiKeySecretArn: settings.geminiApiKeySecretArn } : {}),
  };
}

function sourceHash(): string {
  const hash = createHash('sha256');
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir).sort()) {
      const full = path.join(dir, entry);
      if (statSync(full).isDirectory()) walk(full);
      else hash.update(full.slice(ROOT.length)).update(readFileSync(full));
    }
  };
  for (const dir of ['infra/cdk', 'shared']) walk(path.join(ROOT, dir));
  hash.update(readFileSync(path.join(ROOT, 'package-lock.json')));
  hash.update(readFileSync(fileURLToPath(import.meta.url)));
  return hash.digest('hex').slice(0, 24);
}

let hashOfSources: string | undefined;
const memory = new Map<string, SynthesizedPolicies>();

/** The template of a deployment (synthesized once per source state, then read from the cache). */
export async function synthesizedPolicies(props: DeploymentProps): Promise<SynthesizedPolicies> {
  hashOfSources ??= sourceHash();
  const sorted = Object.fromEntries(Object.entries(props).sort(([a], [b]) => a.localeCompare(b)));
  const key = createHash('sha256').update(hashOfSources).update(JSON.stringify(sorted)).digest('hex').slice(0, 24);
  const cached = memory.get(key);
  if (cached) return cached;
  const dir = path.join(tmpdir(), 'reel-pipeline-iam-templates');
  const file = path.join(dir, `${key}.json`);
  let out: SynthesizedPolicies;
  if (existsSync(file)) {
    out = JSON.parse(readFileSync(file, 'utf8')) as SynthesizedPolicies;
  } else {
    out = await synthesize(props);
    mkdirSync(dir, { recursive: true });
    // Two test workers may synthesize the same key at once: each writes whole, rename is atomic.
    const partial = `${file}.${process.pid}.tmp`;
    writeFileSync(partial, JSON.stringify(out));
    renameSync(partial, file);
  }
  memory.set(key, out);
  return out;
}

async function synthesize(props: DeploymentProps): Promise<SynthesizedPolicies> {
  const [{ App }, { Template }, { PipelineStack }] = await Promise.all([
    import('aws-cdk-lib'),
    import('aws-cdk-lib/assertions'),
    import('../../infra/cdk/pipeline-stack.js'),
  ]);
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false, treeMetadata: false });
  const stack = new PipelineStack(app, 'ReelPipeline', props);
  type Construct = ConstructorParameters<typeof PipelineStack>[0];
  const id = (c: Construct) => stack.getLogicalId(c.node.defaultChild as Parameters<typeof stack.getLogicalId>[0]);
  const roles: SynthesizedPolicies['roles'] = { stateMachine: id(stack.stateMachine.role) };
  for (const [name, f] of Object.entries(stack.functions)) roles[name as EmbeddedPrincipal] = id(f.role);
  return {
    template: Template.fromStack(stack).toJSON() as CfnTemplate,
    roles,
    exportAgentPolicy: stack.exportAgentPolicy ? id(stack.exportAgentPolicy) : undefined,
    ids: {
      table: id(stack.table),
      bucket: id(stack.bucket),
      exportQueue: id(stack.exportQueue),
      exportDlq: id(stack.exportDeadLetterQueue),
      webhookQueue: id(stack.webhookQueue),
      stateMachine: id(stack.stateMachine),
    },
  };
}

const PSEUDO: Record<string, string> = {
  'AWS::Partition': 'aws',
  'AWS::Region': REGION,
  'AWS::AccountId': ACCOUNT,
  'AWS::URLSuffix': 'amazonaws.com',
  'AWS::StackName': 'ReelPipeline',
};

/**
 * A CloudFormation value as the string it becomes on deploy: `Ref`, `Fn::GetAtt`, `Fn::Join`,
 * `Fn::Sub` and pseudo parameters, each logical resource under its logical id as physical name.
 */
export function resolveValue(template: CfnTemplate, value: unknown): string {
  if (typeof value === 'string') return value;
  const o = value as Record<string, unknown>;
  if (o && 'Ref' in o) return resolveRef(template, String(o.Ref));
  if (o && 'Fn::GetAtt' in o) {
    const [id, attr] = o['Fn::GetAtt'] as [string, string];
    return resolveRef(template, id, attr);
  }
  if (o && 'Fn::Join' in o) {
    const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
    return parts.map((p) => resolveValue(template, p)).join(sep);
  }
  if (o && 'Fn::Sub' in o) {
    const [text, vars] = (Array.isArray(o['Fn::Sub']) ? o['Fn::Sub'] : [o['Fn::Sub'], {}]) as [string, Record<string, unknown>];
    return text.replace(/\$\{([^}]+)\}/g, (_m, name: string) => {
      if (name in vars) return resolveValue(template, vars[name]);
      const [id, attr] = name.split('.');
      return resolveRef(template, id, attr);
    });
  }
  return `<unresolved ${JSON.stringify(value)}>`;
}

function resolveRef(template: CfnTemplate, id: string, attr?: string): string {
  if (!attr && id in PSEUDO) return PSEUDO[id];
  const r = template.Resources[id];
  const p = r?.Properties ?? {};
  const named = (prop: string) => (p[prop] === undefined ? id : resolveValue(template, p[prop]));
  switch (r?.Type) {
    case 'AWS::DynamoDB::Table':
      return attr === 'Arn' ? `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${named('TableName')}` : named('TableName');
    case 'AWS::S3::Bucket':
      return attr === 'Arn' ? `arn:aws:s3:::${named('BucketName')}` : named('BucketName');
    case 'AWS::SQS::Queue':
      if (attr === 'Arn') return `arn:aws:sqs:${REGION}:${ACCOUNT}:${id}`;
      return attr === 'QueueName' ? id : `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${id}`;
    case 'AWS::StepFunctions::StateMachine':
      return attr === 'Name' ? id : `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:${id}`;
    case 'AWS::Lambda::Function':
      return attr === 'Arn' ? `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${id}` : id;
    case 'AWS::Logs::LogGroup':
      return attr === 'Arn' ? `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:${named('LogGroupName')}:*` : named('LogGroupName');
    case 'AWS::SecretsManager::Secret':
      return `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${id}`;
    case 'AWS::IAM::Role':
      return attr === 'Arn' ? `arn:aws:iam::${ACCOUNT}:role/${id}` : id;
    default:
      return `<${id}${attr ? `.${attr}` : ''}>`;
  }
}

const asArray = <T>(v: T | T[] | undefined): T[] | undefined => (v === undefined ? undefined : Array.isArray(v) ? v : [v]);

function resolveStatement(template: CfnTemplate, s: PolicyStatementJson & { NotAction?: unknown; NotResource?: unknown }): ResolvedStatement {
  const strings = (v: unknown) => asArray(v as unknown[] | undefined)?.map((x) => resolveValue(template, x));
  return {
    Effect: s.Effect as ResolvedStatement['Effect'],
    Action: asArray(s.Action as string | string[] | undefined),
    NotAction: asArray(s.NotAction as string | string[] | undefined),
    Resource: strings(s.Resource),
    NotResource: strings(s.NotResource),
    Condition: s.Condition,
  };
}

/** Every statement of a role: inline policies and every AWS::IAM::Policy / ManagedPolicy attached to it. */
function statementsOf(template: CfnTemplate, roleId: string): PolicyStatementJson[] {
  const out: PolicyStatementJson[] = [];
  for (const p of (template.Resources[roleId]?.Properties?.Policies as Array<{ PolicyDocument: { Statement: PolicyStatementJson[] } }>) ?? [])
    out.push(...p.PolicyDocument.Statement);
  for (const r of Object.values(template.Resources)) {
    if (r.Type !== 'AWS::IAM::Policy' && r.Type !== 'AWS::IAM::ManagedPolicy') continue;
    const roles = ((r.Properties?.Roles as unknown[]) ?? []).map((x) => (x as { Ref?: string }).Ref);
    if (roles.includes(roleId)) out.push(...(r.Properties!.PolicyDocument as { Statement: PolicyStatementJson[] }).Statement);
  }
  return out;
}

/** The statements the principal has in this template, or undefined when it has no identity there. */
export function principalStatements(policies: SynthesizedPolicies, principal: EmbeddedPrincipal): { who: string; statements: ResolvedStatement[] } | undefined {
  const { template } = policies;
  if (principal === 'export' && policies.exportAgentPolicy) {
    const doc = template.Resources[policies.exportAgentPolicy].Properties!.PolicyDocument as { Statement: PolicyStatementJson[] };
    return { who: `ExportAgentPolicy (${policies.exportAgentPolicy})`, statements: doc.Statement.map((s) => resolveStatement(template, s)) };
  }
  const role = policies.roles[principal];
  if (!role) return undefined;
  return { who: `role ${role}`, statements: statementsOf(template, role).map((s) => resolveStatement(template, s)) };
}

/** A request in the embedded stack's names → the same request on the template's resources. */
export function toTemplateRequest(policies: SynthesizedPolicies, request: IamRequest): IamRequest {
  const { template, ids } = policies;
  const table = `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/`;
  const smName = STATE_MACHINE_ARN.slice(STATE_MACHINE_ARN.lastIndexOf(':') + 1);
  const queue = (name: string) => `arn:aws:sqs:${REGION}:${ACCOUNT}:${name}`;
  const renames: Array<[RegExp, string]> = [
    [new RegExp(`^${escape(table + TABLE_NAME)}(?=$|/)`), resolveRef(template, ids.table, 'Arn')],
    [new RegExp(`^${escape(`arn:aws:s3:::${BUCKET_NAME}`)}(?=$|/)`), resolveRef(template, ids.bucket, 'Arn')],
    [new RegExp(`^${escape(queue(EXPORT_QUEUE))}$`), resolveRef(template, ids.exportQueue, 'Arn')],
    [new RegExp(`^${escape(queue(EXPORT_DLQ))}$`), resolveRef(template, ids.exportDlq, 'Arn')],
    [new RegExp(`^${escape(queue(WEBHOOK_QUEUE.name))}$`), resolveRef(template, ids.webhookQueue, 'Arn')],
    [new RegExp(`^${escape(STATE_MACHINE_ARN)}$`), resolveRef(template, ids.stateMachine)],
    [
      new RegExp(`^${escape(`arn:aws:states:${REGION}:${ACCOUNT}:execution:${smName}:`)}`),
      `arn:aws:states:${REGION}:${ACCOUNT}:execution:${resolveRef(template, ids.stateMachine, 'Name')}:`,
    ],
  ];
  let resource = request.resource;
  for (const [from, to] of renames) resource = resource.replace(from, to);
  return { ...request, resource };
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** One kind of call a principal may not make, with how often, in which modes, and one example. */
export interface DeniedCall {
  principal: EmbeddedPrincipal;
  who: string;
  /** the deployment modes whose policies refuse it */
  modes: string[];
  action: string;
  /** the resource's shape: task ids as `<uuid>`, an object key as its folder + `*` */
  resource: string;
  /** the condition keys' shape, e.g. `dynamodb:leadingkeys=LOCK#*` */
  conditions: string;
  example: string;
  operation: string;
  count: number;
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

/** What a denial is grouped by: object keys by folder, item keys by kind (`TASK#*`). */
function shapeOf(request: IamRequest): { resource: string; conditions: string } {
  let resource = request.resource.replace(UUID, '<uuid>');
  if (resource.startsWith('arn:aws:s3:::') && resource.slice('arn:aws:s3:::'.length).includes('/'))
    resource = `${resource.slice(0, resource.lastIndexOf('/') + 1)}*`;
  const conditions = Object.entries(request.conditions)
    .map(
      ([k, values]) =>
        `${k}=${values.map((v) => (k === 'dynamodb:leadingkeys' && v.includes('#') ? `${v.slice(0, v.indexOf('#') + 1)}*` : v.replace(UUID, '<uuid>'))).join('|')}`,
    )
    .join(' ');
  return { resource, conditions };
}

/**
 * Every recorded call that some deployment mode's policies do not allow, grouped by principal,
 * action and resource shape. `policiesFor` gives the template of a mode (tests pass an edited
 * one to prove a missing grant is caught).
 */
export async function deniedCalls(
  calls: RecordedCall[],
  policiesFor: (props: DeploymentProps) => Promise<SynthesizedPolicies> = synthesizedPolicies,
): Promise<DeniedCall[]> {
  const denied = new Map<string, DeniedCall>();
  const callsOf = new Map<string, Set<RecordedCall>>();
  const byDeployment = new Map<string, { props: DeploymentProps; calls: RecordedCall[] }>();
  for (const call of calls) {
    const props = deploymentOf(call.settings);
    const k = JSON.stringify(props);
    const group = byDeployment.get(k) ?? { props, calls: [] };
    group.calls.push(call);
    byDeployment.set(k, group);
  }
  for (const { props, calls: group } of byDeployment.values()) {
    const providers = `${props.ttsProvider !== 'espeak' ? `, tts ${props.ttsProvider}` : ''}${props.storyProvider === 'gemini' ? ', story gemini' : ''}`;
    for (const mode of WORKER_MODES) {
      const policies = await policiesFor({ ...props, ...mode.props });
      const modeName = `${mode.name}${providers}`;
      const identities = new Map<EmbeddedPrincipal, ReturnType<typeof principalStatements>>();
      for (const call of group) {
        if (!identities.has(call.principal)) identities.set(call.principal, principalStatements(policies, call.principal));
        const identity = identities.get(call.principal);
        const requests = call.unmodeled ? [{ action: `(unmodeled) ${call.unmodeled}`, resource: '?', conditions: {} }] : call.requests;
        for (const request of requests) {
          if (!call.unmodeled && identity && isAllowed(identity.statements, toTemplateRequest(policies, request))) continue;
          const shape = shapeOf(request);
          const k = `${call.principal}|${request.action}|${shape.resource}|${shape.conditions}`;
          const entry = denied.get(k) ?? {
            principal: call.principal,
            who: identity?.who ?? 'no identity in this mode',
            modes: [],
            action: request.action,
            resource: shape.resource,
            conditions: shape.conditions,
            example: `${request.resource}${Object.keys(request.conditions).length ? ` ${JSON.stringify(request.conditions)}` : ''}`,
            operation: `${call.operation}${call.presigned ? ' (presigned URL)' : ''}`,
            count: 0,
          };
          if (!entry.modes.includes(modeName)) entry.modes.push(modeName);
          // each call counted once, whatever the number of modes that refuse it
          const calls = callsOf.get(k) ?? new Set<RecordedCall>();
          calls.add(call);
          callsOf.set(k, calls);
          entry.count = calls.size;
          denied.set(k, entry);
        }
      }
    }
  }
  return [...denied.values()];
}

/** The denials as a message whoever merges can act on: function, action, resource, modes. */
export function describeDenied(denied: DeniedCall[]): string {
  const lines = denied.map(
    (d) =>
      `- ${d.principal} (${d.who}) may not ${d.action} on ${d.resource}${d.conditions ? ` [${d.conditions}]` : ''} — ${d.operation}, ${d.count} call(s), in ${d.modes.join('; ')}; e.g. ${d.example}`,
  );
  return [
    `${denied.length} kind(s) of AWS call made by the handlers are not allowed by the synthesized IAM policies (infra/cdk/constructs/):`,
    ...lines,
    'Grant each in the room of its function — infra/cdk/constructs/stage-functions.ts, entry-functions.ts or export-worker.ts — (and its expected policy in test/infra/cdk-pipeline-stack.test.ts), or teach test/support/aws-call-recorder.ts an unmodeled operation.',
  ].join('\n');
}
