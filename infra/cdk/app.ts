/**
 * The AWS deployment: `npx cdk deploy` (cdk.json runs this file with tsx).
 *
 * Every setting is CDK context by the name of {@link PipelineSettings}, with the defaults of
 * {@link DEFAULT_PIPELINE_SETTINGS}, e.g.
 *
 *   npx cdk deploy -c exportWorker=agent -c exporter=http -c artifactRetentionDays=14
 *
 * `-c stackName=…` deploys a second copy under another name (default `ReelPipeline`).
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { PipelineStack } from './pipeline-stack.js';
import { pipelineSettingsFromContext } from './pipeline-settings.js';

const app = new App();
const stackName = String(app.node.tryGetContext('stackName') ?? 'ReelPipeline');
new PipelineStack(app, stackName, {
  ...pipelineSettingsFromContext(app.node),
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});
// Synthesis fails on any AwsSolutions finding that is not acknowledged with a reason.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
