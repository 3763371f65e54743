/**
 * cdk-nag (AwsSolutions) findings the design accepts, one finding at a time, each with its
 * reason. Findings that follow from one resource's setting are acknowledged beside it (the
 * undelivered-events queue, the secrets, the state machine, the API, the agent policy); the
 * ones that follow from the function grants as a whole are here. `test/infra/cdk-nag.test.ts`
 * checks that every finding is acknowledged and nothing else is.
 */
import { Stack, Validations } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { PREFIX, SOURCE_MEDIA_PATTERN, SOURCE_MUSIC_PATTERN } from '../../../shared/resources/storage.js';
import type { PipelineFunction, PipelineFunctionName } from '../pipeline-function.js';
import type { PipelineSettings } from '../pipeline-settings.js';

/** Records an acknowledged cdk-nag finding on `scope` (and everything below it). */
export function acknowledge(scope: Construct, id: string, reason: string): void {
  Validations.of(scope).acknowledge({ id, reason });
}

/**
 * How cdk-nag writes a resource in a finding id: the resolved string with every intrinsic as
 * `<LogicalId.Attr>` / `<AWS::Pseudo>` (nag's own flattening, reproduced so the acknowledgement
 * names exactly the pattern it accepts).
 */
export function nagArn(stack: Stack, value: string): string {
  const flatten = (v: unknown): string => {
    if (typeof v === 'string') return v.replace(/\$\{/g, '<').replace(/\}/g, '>');
    if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if ('Ref' in o) return `<${String(o.Ref)}>`;
      if ('Fn::Sub' in o) return flatten(o['Fn::Sub']);
      if ('Fn::GetAtt' in o) return `<${(o['Fn::GetAtt'] as string[]).join('.')}>`;
      if ('Fn::Join' in o) {
        const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
        return parts.map(flatten).join(sep);
      }
    }
    return JSON.stringify(v);
  };
  return flatten(stack.resolve(value));
}

export const SEND_TASK_REASON =
  'states:SendTaskSuccess/SendTaskFailure/SendTaskHeartbeat have no resource-level permissions (AWS documents none for task tokens): the token in each message is the capability, so the resource must be *.';
export const TASK_OBJECTS_REASON =
  'Every artifact of a task lives under tasks/<task_id>/ with ids created at submit time: tasks/* is the narrowest stable pattern (never sources/, inbox/ or another prefix).';
const SOURCES_REASON =
  'Source material is stored per creator and video at sources/<creator>/<video>/source.txt, both ids chosen by the caller: sources/* is that one prefix.';
const SOURCE_MEDIA_REASON =
  'The creator uploads stills per video at sources/<creator>/<video>/media/<file>, all names chosen by the caller; Draft reads (never writes) only objects under a media/ folder of sources/.';
const XRAY_REASON =
  'Active X-Ray tracing adds xray:PutTraceSegments and xray:PutTelemetryRecords, which AWS defines without resource-level permissions, so that statement names *.';
const XRAY_ONLY_REASON = `${XRAY_REASON} No other statement of this role has a * resource.`;

/** Why each function's policy has a `*` resource, statement by statement (asserted in the IAM test). */
const RESOURCE_STAR_REASONS: Record<PipelineFunctionName, (s: PipelineSettings) => string> = {
  api: () => XRAY_ONLY_REASON,
  inbox: () => XRAY_ONLY_REASON,
  start: () => XRAY_ONLY_REASON,
  story: () => XRAY_ONLY_REASON,
  tts: (s) =>
    s.ttsProvider === 'polly'
      ? `${XRAY_REASON} The other is polly:SynthesizeSpeech, which names no resource unless lexicons are used (this pipeline uses none).`
      : XRAY_ONLY_REASON,
  draft: () => XRAY_ONLY_REASON,
  finalize: () => XRAY_ONLY_REASON,
  fail: () => XRAY_ONLY_REASON,
  export: () => `${XRAY_REASON} The other is ${SEND_TASK_REASON}`,
  exportDlq: () => `${XRAY_REASON} The other is states:SendTaskFailure alone: ${SEND_TASK_REASON}`,
  webhook: () => XRAY_ONLY_REASON,
};

/**
 * The findings that follow from the function grants: the runtime pin, the `*` resources AWS
 * offers nothing narrower for, and each wildcard object prefix.
 */
export function acknowledgeFunctionFindings(o: {
  stack: Stack;
  settings: PipelineSettings;
  functions: Partial<Record<PipelineFunctionName, PipelineFunction>>;
  artifactBucketArn: string;
  /** every execution of the state machine (the API's cancel) */
  executionArns: string;
}): void {
  const { stack, functions: f } = o;
  const objects = (prefix: string) => `AwsSolutions-IAM5[Resource::${nagArn(stack, `${o.artifactBucketArn}/${prefix}*`)}]`;
  for (const [name, fn] of Object.entries(f) as Array<[PipelineFunctionName, PipelineFunction]>) {
    acknowledge(
      fn,
      'AwsSolutions-L1',
      'Pinned to nodejs22.x on purpose: the handlers are built and tested for Node 20/22 (CI runs Node 20); nodejs24.x is a runtime upgrade to make with its own test run, not a side effect of a nag rule.',
    );
    acknowledge(fn, 'AwsSolutions-IAM5[Resource::*]', RESOURCE_STAR_REASONS[name](o.settings));
  }
  for (const fn of [f.api, f.inbox, f.story, f.tts, f.draft, f.finalize, f.export]) {
    if (fn) acknowledge(fn, objects(PREFIX.tasks), TASK_OBJECTS_REASON);
  }
  acknowledge(f.api!, objects(PREFIX.sources), SOURCES_REASON);
  acknowledge(f.inbox!, objects(PREFIX.sources), SOURCES_REASON);
  acknowledge(f.draft!, objects(SOURCE_MEDIA_PATTERN), SOURCE_MEDIA_REASON);
  acknowledge(
    f.story!,
    objects(SOURCE_MEDIA_PATTERN),
    'The creator names their own clips at sources/<creator>/<video>/media/<file>; with Gemini the Story stage reads (never writes) them there to stream them to the Gemini Files API.',
  );
  acknowledge(
    f.draft!,
    objects(SOURCE_MUSIC_PATTERN),
    'The creator uploads background music per video at sources/<creator>/<video>/music/<file>, names chosen by the caller; Draft reads (never writes) only objects under a music/ folder of sources/.',
  );
  for (const pattern of [SOURCE_MEDIA_PATTERN, SOURCE_MUSIC_PATTERN]) {
    acknowledge(
      f.api!,
      objects(pattern),
      `The creator names their own media files (DELETE /sources/{creator}/{video}/media|music/{file}); the API deletes one file, or aborts its own failed streamed upload, only under ${pattern}*.`,
    );
  }
  for (const prefix of [PREFIX.inbox, PREFIX.inboxAccepted, PREFIX.inboxRejected]) {
    acknowledge(
      f.inbox!,
      objects(prefix),
      `Request documents are arbitrary object names chosen by the uploader; the inbox function reads and deletes under inbox/ and moves each document to inbox-accepted/ or inbox-rejected/ (${prefix}* is that one prefix, nothing else in the bucket).`,
    );
  }
  acknowledge(
    f.api!,
    `AwsSolutions-IAM5[Resource::${nagArn(stack, o.executionArns)}]`,
    'Cancel stops the execution of one task; execution names are task ids created at submit time, so the resource is every execution of this one state machine (execution:<machine>:*), never another machine.',
  );
  acknowledge(
    f.inbox!,
    `AwsSolutions-IAM5[Resource::${nagArn(stack, o.executionArns)}]`,
    'A replayed request document whose idempotency key was never confirmed asks whether its task execution exists (DescribeExecution, read only); execution names are task ids, so the resource is every execution of this one state machine, never another machine.',
  );
}
