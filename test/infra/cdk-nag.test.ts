import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PipelineStack, type PipelineStackProps } from '../../infra/cdk/pipeline-stack.js';

/**
 * cdk-nag (AwsSolutions) as the deployment runs it: a validation plugin on the app, findings in
 * `<outdir>/validation-report.json`, acknowledged one finding at a time with a reason. Both
 * export paths and both provider sets. Bundling is skipped: nag reads the template, not the code.
 */
interface Synthesized {
  stack: PipelineStack;
  report: {
    pluginReports: Array<{
      pluginName: string;
      conclusion: string;
      violations: Array<{ ruleName: string; severity: string; violatingConstructs: Array<{ constructPath: string }> }>;
    }>;
  };
}

const outdirs: string[] = [];
function synthWithNag(id: string, props: PipelineStackProps): Synthesized {
  const outdir = mkdtempSync(path.join(tmpdir(), 'reel-nag-'));
  outdirs.push(outdir);
  // The built-in CloudFormation validation stays on here: its report lands in the same file.
  const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] }, treeMetadata: false });
  const stack = new PipelineStack(app, id, props);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  try {
    app.synth();
  } catch {
    // a failed validation throws after writing the report; the report is what the tests read
  }
  return { stack, report: JSON.parse(readFileSync(path.join(outdir, 'validation-report.json'), 'utf8')) };
}

interface Acknowledgement {
  scope: string;
  id: string;
  reason: string;
}

/** Every acknowledgement recorded in the stack's construct tree. */
function acknowledgementsOf(stack: PipelineStack): Acknowledgement[] {
  const out: Acknowledgement[] = [];
  for (const c of stack.node.findAll()) {
    for (const entry of c.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
      for (const [id, reason] of Object.entries(entry.data as Record<string, string>))
        out.push({ scope: c.node.path, id: id.replace(/^annotation::/i, ''), reason });
    }
  }
  return out;
}

/** Every finding AwsSolutions would report if nothing were acknowledged. */
function allFindings(stack: PipelineStack): Array<{ id: string; path: string }> {
  const pack = new AwsSolutionsChecks();
  (pack as unknown as { isAcknowledged: () => boolean }).isAcknowledged = () => false;
  return pack.validateScope(stack).violations.flatMap((v) => v.violatingResources.map((r) => ({ id: v.ruleName, path: r.constructPath ?? '' })));
}

const covers = (scope: string, resourcePath: string) => resourcePath === scope || resourcePath.startsWith(`${scope}/`);

const configurations: Record<string, PipelineStackProps> = {
  'the default stack (Lambda worker, builtin exporter, passthrough story, eSpeak)': {},
  'the agent stack (http exporter, Gemini secret, Polly)': { exportWorker: 'agent', exporter: 'http', storyProvider: 'gemini', ttsProvider: 'polly' },
};

/** IAM5 (wildcard) findings that may be acknowledged: the unavoidable per-item patterns and the actions without resource-level permissions. */
const ACCEPTED_IAM5 = [
  /^AwsSolutions-IAM5\[Resource::\*\]$/,
  /^AwsSolutions-IAM5\[Resource::arn:<AWS::Partition>:s3:::[a-z0-9-]+-artifacts-<AWS::AccountId>-<AWS::Region>\/(tasks|sources|sources\/\*\/media|sources\/\*\/music|inbox|inbox-accepted|inbox-rejected)\/\*\]$/,
  /^AwsSolutions-IAM5\[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:<StateMachine[0-9A-F]+\.Name>:\*\]$/,
];

afterAll(() => {
  for (const dir of outdirs) rmSync(dir, { recursive: true, force: true });
});

for (const [label, props] of Object.entries(configurations)) {
  describe(label, () => {
    let synthesized: Synthesized;
    beforeAll(() => {
      synthesized = synthWithNag(`ReelPipeline${Object.keys(props).length ? 'Agent' : ''}`, props);
    }, 120_000);

    it('has no unacknowledged AwsSolutions finding in the validation report', () => {
      const nag = synthesized.report.pluginReports.filter((r) => r.pluginName === 'AwsSolutions');
      const violations = nag.flatMap((r) => r.violations.map((v) => `${v.ruleName} at ${v.violatingConstructs.map((c) => c.constructPath).join(', ')}`));
      expect(violations).toEqual([]);
      // and CloudFormation's own template validation found no error either
      const errors = synthesized.report.pluginReports.flatMap((r) => r.violations.filter((v) => v.severity === 'error' || v.severity === 'fatal'));
      expect(errors).toEqual([]);
    });

    it('acknowledges only findings that exist, each where it occurs, and leaves none uncovered', () => {
      const findings = allFindings(synthesized.stack);
      const acks = acknowledgementsOf(synthesized.stack);
      expect(findings.length).toBeGreaterThan(10); // the acknowledgements below are doing real work
      for (const ack of acks) {
        expect(
          findings.some((f) => f.id === ack.id && covers(ack.scope, f.path)),
          `stale acknowledgement ${ack.id} on ${ack.scope}`,
        ).toBe(true);
      }
      for (const f of findings) {
        expect(
          acks.some((a) => a.id === f.id && covers(a.scope, f.path)),
          `unacknowledged ${f.id} at ${f.path}`,
        ).toBe(true);
      }
    });

    it('gives every acknowledgement a reason a reviewer can check', () => {
      for (const ack of acknowledgementsOf(synthesized.stack)) {
        expect(ack.reason.split(/\s+/).length, `${ack.id} on ${ack.scope}`).toBeGreaterThanOrEqual(15);
        expect(ack.reason, ack.id).not.toMatch(/\b(todo|tbd|fixme|for now|false positive|not needed|ignore)\b/i);
      }
    });

    it('acknowledges IAM5 only for the named per-item patterns and for actions without resource-level permissions', () => {
      const iam5 = acknowledgementsOf(synthesized.stack).filter((a) => a.id.startsWith('AwsSolutions-IAM5'));
      expect(iam5.length).toBeGreaterThan(0);
      for (const ack of iam5) {
        expect(
          ACCEPTED_IAM5.some((pattern) => pattern.test(ack.id)),
          ack.id,
        ).toBe(true);
        expect(ack.id).not.toContain('Action::');
      }
      // a bare * resource is acknowledged with the statements that need it, by name
      for (const ack of iam5.filter((a) => a.id.endsWith('[Resource::*]'))) {
        expect(ack.reason).toMatch(/xray:PutTraceSegments|states:SendTask|logs:CreateLogDelivery/);
      }
    });
  });
}
