import { BatchWriteItemCommand } from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAsPrincipal, type EmbeddedPrincipal } from '../../infra/embedded/aws-principal.js';
import { BUCKET_NAME, EXPORT_QUEUE, REGION, TABLE_NAME } from '../../infra/embedded/embedded-names.js';
import { getObjectBytes, listKeys, presignGet } from '../../shared/artifacts.js';
import type { Runtime } from '../../shared/runtime.js';
import { notFoundRuntime } from '../support/not-found-runtime.js';
import { recordCallsOfRuntime, takeRecordedCalls, type RecordedCall } from '../support/aws-call-recorder.js';
import { deniedCalls, describeDenied, synthesizedPolicies, type DeploymentProps, type SynthesizedPolicies } from '../support/iam-call-check.js';
import { isAllowed, type ResolvedStatement } from '../support/iam-policy.js';

/**
 * The check that every AWS call a handler makes on the embedded stack is allowed by that
 * function's policy in the synthesized template (test/support/iam-check-setup.ts runs it after
 * every end-to-end file). Here: the recorder, the evaluator, and that a missing grant is caught.
 * The SDK talks to a loopback server that answers 404 to everything: calls are recorded whatever
 * their outcome, and no emulator is needed.
 */
let rt: Runtime;
let closeServer: () => Promise<void>;

beforeAll(async () => {
  ({ rt, close: closeServer } = await notFoundRuntime({ region: REGION, tableName: TABLE_NAME, bucketName: BUCKET_NAME }));
  recordCallsOfRuntime(rt);
});
afterAll(async () => {
  // These calls are this file's own fixtures, made to be refused: not for the after-file check.
  takeRecordedCalls();
  await closeServer();
});

/** Runs `work` as `principal` and returns the calls it made. */
async function callsAs(principal: EmbeddedPrincipal, work: () => Promise<unknown>): Promise<RecordedCall[]> {
  takeRecordedCalls();
  await runAsPrincipal({ principal, settings: rt.settings }, () => work().catch(() => undefined));
  return takeRecordedCalls();
}
const requestLines = (calls: RecordedCall[]) =>
  calls.flatMap((c) => c.requests.map((r) => `${c.principal} ${r.action} ${r.resource} ${JSON.stringify(r.conditions)}`));

/** The default template with one statement of one role taken out. */
function withoutStatement(policies: SynthesizedPolicies, principal: EmbeddedPrincipal, action: string): SynthesizedPolicies {
  const copy = structuredClone(policies);
  const role = copy.roles[principal]!;
  let removed = 0;
  for (const r of Object.values(copy.template.Resources)) {
    if (r.Type !== 'AWS::IAM::Policy' || !JSON.stringify(r.Properties?.Roles).includes(role)) continue;
    const doc = r.Properties!.PolicyDocument as { Statement: Array<{ Action: string | string[] }> };
    const before = doc.Statement.length;
    doc.Statement = doc.Statement.filter((s) => ![s.Action].flat().includes(action) || !JSON.stringify(s).includes('LOCK#'));
    removed += before - doc.Statement.length;
  }
  expect(removed, `statements of ${principal} granting ${action} on LOCK# items`).toBe(1);
  return copy;
}

describe('the AWS call recorder', () => {
  it('records what a handler calls as its function: item kind, object key, a 404 as a listing, list prefix, presigned URL', async () => {
    // act
    const calls = await callsAs('draft', async () => {
      await rt.ddb.send(new GetCommand({ TableName: TABLE_NAME, Key: { pk: 'TASK#t1' } })).catch(() => undefined);
      await getObjectBytes(rt, 'sources/c1/v1/media/01.png').catch(() => undefined);
      await listKeys(rt, 'sources/c1/v1/media/').catch(() => undefined);
      await presignGet(rt, 'tasks/t1/final_video.mp4');
    });
    const outside = await callsAs('draft', async () => undefined);
    await rt.ddb.send(new GetCommand({ TableName: TABLE_NAME, Key: { pk: 'TASK#t2' } })).catch(() => undefined);

    // assess
    expect(requestLines(calls)).toEqual([
      `draft dynamodb:GetItem arn:aws:dynamodb:us-east-1:000000000000:table/${TABLE_NAME} {"dynamodb:leadingkeys":["TASK#t1"]}`,
      `draft s3:GetObject arn:aws:s3:::${BUCKET_NAME}/sources/c1/v1/media/01.png {}`,
      `draft s3:ListBucket arn:aws:s3:::${BUCKET_NAME} {}`,
      `draft s3:ListBucket arn:aws:s3:::${BUCKET_NAME} {"s3:prefix":["sources/c1/v1/media/"]}`,
      `draft s3:GetObject arn:aws:s3:::${BUCKET_NAME}/tasks/t1/final_video.mp4 {}`,
    ]);
    expect(calls.map((c) => c.presigned)).toEqual([false, false, false, true]);
    // code outside any function (the test itself, the embedded stack's plumbing) is not recorded
    expect(outside).toEqual([]);
    expect(takeRecordedCalls()).toEqual([]);
  });
});

describe('the IAM check against the synthesized template', () => {
  let policies: SynthesizedPolicies;
  beforeAll(async () => {
    policies = await synthesizedPolicies({ exportWorker: 'lambda', exporter: 'builtin', ttsProvider: 'espeak', storyProvider: 'passthrough' });
  }, 120_000);

  it("allows the Draft function to read the creator's media under sources/<creator>/<video>/media/, and no other source", async () => {
    const media = await callsAs('draft', () => getObjectBytes(rt, 'sources/c1/v1/media/01.png'));
    const source = await callsAs('draft', () => getObjectBytes(rt, 'sources/c1/v1/source.txt'));

    const mediaDenied = await deniedCalls(media);
    const sourceDenied = await deniedCalls(source);

    expect(mediaDenied, describeDenied(mediaDenied)).toEqual([]);
    expect(sourceDenied.map((d) => `${d.principal} ${d.action} ${d.resource}`)).toEqual([`draft s3:GetObject arn:aws:s3:::${BUCKET_NAME}/sources/c1/v1/*`]);
  });

  it('reports a recorded call once its grant is removed from the template, naming function, action, resource and modes', async () => {
    // prepare: the Start function extends the video lock (UpdateItem on a LOCK# item)
    const calls = await callsAs('start', () =>
      rt.ddb.send(
        new UpdateCommand({ TableName: TABLE_NAME, Key: { pk: 'LOCK#c1#v1' }, UpdateExpression: 'SET a = :a', ExpressionAttributeValues: { ':a': 1 } }),
      ),
    );
    const removed = withoutStatement(policies, 'start', 'dynamodb:UpdateItem');
    const edited = async (props: DeploymentProps) => (props.exportWorker === 'lambda' && props.exporter === 'builtin' ? removed : synthesizedPolicies(props));

    // act
    const untouched = await deniedCalls(calls);
    const denied = await deniedCalls(calls, edited);

    // assess
    expect(untouched, describeDenied(untouched)).toEqual([]);
    expect(denied).toHaveLength(1);
    expect(describeDenied(denied)).toContain(
      `- start (role ${policies.roles.start}) may not dynamodb:UpdateItem on arn:aws:dynamodb:us-east-1:000000000000:table/${TABLE_NAME} [dynamodb:leadingkeys=LOCK#*] — dynamodb.UpdateItem, 1 call(s), in lambda+builtin;`,
    );
  });

  it('refuses a new item kind that no statement names', async () => {
    const calls = await callsAs('finalize', () =>
      rt.ddb.send(
        new UpdateCommand({ TableName: TABLE_NAME, Key: { pk: 'FENCE#t1' }, UpdateExpression: 'SET a = :a', ExpressionAttributeValues: { ':a': 1 } }),
      ),
    );
    const denied = await deniedCalls(calls);
    expect(denied.map((d) => `${d.principal} ${d.action} [${d.conditions}] ${d.modes.length}`)).toEqual([
      'finalize dynamodb:UpdateItem [dynamodb:leadingkeys=FENCE#*] 3',
    ]);
  });

  it('checks the export worker as the Lambda worker role and as the export agent policy', async () => {
    // The Lambda worker's event source grants GetQueueAttributes; the agent's policy does not.
    const calls = await callsAs('export', () =>
      rt.sqs.send(new GetQueueAttributesCommand({ QueueUrl: `https://sqs.${REGION}.amazonaws.com/000000000000/${EXPORT_QUEUE}`, AttributeNames: ['All'] })),
    );
    const denied = await deniedCalls(calls);
    expect(denied.map((d) => `${d.principal} ${d.who.split(' ')[0]} ${d.action} ${d.modes.join(',')}`)).toEqual([
      'export ExportAgentPolicy sqs:GetQueueAttributes agent+http',
    ]);
  });

  it('fails closed on an operation the recorder does not model', async () => {
    const calls = await callsAs('api', () =>
      rt.ddb.send(new BatchWriteItemCommand({ RequestItems: { [TABLE_NAME]: [{ DeleteRequest: { Key: { pk: { S: 'TASK#t1' } } } }] } })),
    );
    const denied = await deniedCalls(calls);
    expect(denied.map((d) => d.action)).toEqual(['(unmodeled) dynamodb.BatchWriteItem']);
  });
});

describe('the policy evaluator', () => {
  const allow = (s: Partial<ResolvedStatement>): ResolvedStatement => ({ Effect: 'Allow', ...s });
  const items = allow({
    Action: ['dynamodb:GetItem'],
    Resource: ['arn:aws:dynamodb:*:*:table/t'],
    Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['TASK#*'] } },
  });
  const get = (pk: string) => ({ action: 'dynamodb:GetItem', resource: 'arn:aws:dynamodb:us-east-1:1:table/t', conditions: { 'dynamodb:leadingkeys': [pk] } });

  it('matches actions without case, resources and condition values with wildcards, and lets a Deny win', () => {
    expect(isAllowed([items], get('TASK#1'))).toBe(true);
    expect(isAllowed([items], get('LOCK#1'))).toBe(false);
    expect(isAllowed([items], { ...get('TASK#1'), action: 'DynamoDB:getitem' })).toBe(true);
    expect(isAllowed([items], { ...get('TASK#1'), resource: 'arn:aws:dynamodb:us-east-1:1:table/other' })).toBe(false);
    expect(isAllowed([items, { Effect: 'Deny', Action: ['dynamodb:*'], Resource: ['*'] }], get('TASK#1'))).toBe(false);
    const list = allow({ Action: ['s3:ListBucket'], Resource: ['arn:aws:s3:::b'], Condition: { StringLike: { 's3:prefix': ['tasks/*'] } } });
    expect(isAllowed([list], { action: 's3:ListBucket', resource: 'arn:aws:s3:::b', conditions: { 's3:prefix': ['tasks/1/'] } })).toBe(true);
    expect(isAllowed([list], { action: 's3:ListBucket', resource: 'arn:aws:s3:::b', conditions: { 's3:prefix': ['sources/'] } })).toBe(false);
    expect(isAllowed([list], { action: 's3:ListBucket', resource: 'arn:aws:s3:::b', conditions: {} })).toBe(false);
  });

  it('matches nothing with a condition operator it does not know', () => {
    const odd = allow({ Action: ['s3:GetObject'], Resource: ['*'], Condition: { DateGreaterThan: { 'aws:CurrentTime': '2020-01-01T00:00:00Z' } } });
    expect(isAllowed([odd], { action: 's3:GetObject', resource: 'arn:aws:s3:::b/k', conditions: {} })).toBe(false);
  });
});
