/**
 * The two secrets the stack may hold: the Gemini API key (story function) and the export
 * service's bearer token (`lambda` + `http` export worker). Either is the one the settings name,
 * or one the stack creates.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { acknowledge } from './nag-acknowledgements.js';

/** The Gemini API key: the secret at `existingArn`, or an empty one for the operator to fill in. */
export function geminiApiKeySecret(scope: Construct, existingArn: string): secretsmanager.ISecret {
  if (existingArn) return secretsmanager.Secret.fromSecretCompleteArn(scope, 'GeminiApiKey', existingArn);
  const secret = new secretsmanager.Secret(scope, 'GeminiApiKey', {
    description: 'Gemini API key of the reel-pipeline story function: replace the generated value with the key (see README, Deploy to AWS).',
    removalPolicy: RemovalPolicy.DESTROY,
  });
  acknowledge(
    secret,
    'AwsSolutions-SMG4',
    'A Google-issued Gemini API key: no Lambda rotation function can mint a new one. It is rotated by hand in Google AI Studio and stored with put-secret-value; the function reads it at each cold start.',
  );
  return secret;
}

/** The export service's shared secret: the one given, or a generated 48-character token. */
export function exportAuthSecret(scope: Construct, existingArn: string): secretsmanager.ISecret {
  if (existingArn) return secretsmanager.Secret.fromSecretCompleteArn(scope, 'ExportAuthToken', existingArn);
  const secret = new secretsmanager.Secret(scope, 'ExportAuthToken', {
    description: 'Bearer token of the reel-pipeline export service: the export worker sends it, the exporter checks it (see README, Export service contract).',
    // Letters and digits only: it travels in an HTTP header and in shell settings files.
    generateSecretString: { passwordLength: 48, excludePunctuation: true, includeSpace: false },
    removalPolicy: RemovalPolicy.DESTROY,
  });
  acknowledge(
    secret,
    'AwsSolutions-SMG4',
    'The exporter checks this token on its own host; a rotation function could not update it there. Rotate by hand: put-secret-value, update the exporter; the worker reads the secret again after a 401.',
  );
  return secret;
}
