/**
 * The API: API Gateway (REST, regional) in front of the API function, IAM (SigV4) on every
 * method, the same paths as the embedded stack's HTTP API (lambdas/api/app.ts), the run request
 * validated before the function runs, and API Gateway's own answers rewritten to the API's
 * `{error, message}` shape.
 */
import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { MAX_BODY_BYTES, MAX_SOURCE_TEXT_CHARS } from '../../../shared/request.js';
import type { PipelineFunction } from '../pipeline-function.js';
import type { PipelineSettings } from '../pipeline-settings.js';
import { StackRoom } from '../stable-logical-ids.js';
import { acknowledge } from './nag-acknowledgements.js';

export interface PipelineApiProps {
  settings: PipelineSettings;
  /** the function every method invokes */
  fn: PipelineFunction;
  logRetention: logs.RetentionDays;
}

export class PipelineApi extends StackRoom {
  readonly api: apigw.RestApi;

  constructor(scope: Construct, id: string, props: PipelineApiProps) {
    super(scope, id);
    const { settings } = props;
    const accessLogs = new logs.LogGroup(this, 'ApiAccessLogs', { retention: props.logRetention, removalPolicy: RemovalPolicy.DESTROY });
    this.api = new apigw.RestApi(this, 'Api', {
      restApiName: `${Stack.of(this).stackName}-api`,
      description: 'reel-pipeline submit/status API (IAM authorization: sign requests with SigV4)',
      endpointTypes: [apigw.EndpointType.REGIONAL],
      cloudWatchRole: settings.apiGatewayCloudWatchRole,
      defaultMethodOptions: { authorizationType: apigw.AuthorizationType.IAM },
      deployOptions: {
        stageName: 'prod',
        accessLogDestination: new apigw.LogGroupLogDestination(accessLogs),
        accessLogFormat: apigw.AccessLogFormat.jsonWithStandardFields(),
        loggingLevel: apigw.MethodLoggingLevel.INFO,
        dataTraceEnabled: false,
        metricsEnabled: true,
        tracingEnabled: true,
        throttlingRateLimit: settings.apiRateLimit,
        throttlingBurstLimit: settings.apiBurstLimit,
      },
    });
    if (settings.apiGatewayCloudWatchRole) {
      acknowledge(
        this.api,
        'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
        'The account-level role API Gateway assumes to write execution logs (APIG6); AWS maintains this managed policy for exactly that role. Deploy with -c apiGatewayCloudWatchRole=false when the account already has one.',
      );
    }
    acknowledge(
      this.api,
      'AwsSolutions-APIG3',
      'Every method requires IAM (SigV4) authorization, so unsigned traffic is refused by API Gateway before any integration runs; stage throttling caps signed callers. A WAF web ACL would add cost without a rule to enforce.',
    );
    acknowledge(
      this.api,
      'AwsSolutions-COG4',
      'The callers are AWS principals (operators, the creator tools) signing with SigV4: IAM authorization is the chosen authorizer, a Cognito user pool would add a second identity system.',
    );

    const integration = new apigw.LambdaIntegration(props.fn.fn, { allowTestInvoke: false });
    const fullValidator = this.api.addRequestValidator('RunRequestValidator', { validateRequestBody: true, validateRequestParameters: true });
    const paramsValidator = this.api.addRequestValidator('ParameterValidator', { validateRequestBody: false, validateRequestParameters: true });
    const runModel = this.api.addModel('RunRequest', {
      contentType: 'application/json',
      modelName: 'RunRequest',
      description: 'Body of POST /api/pipeline/run (the handler checks the same rules again, with per-field messages)',
      schema: {
        schema: apigw.JsonSchemaVersion.DRAFT4,
        type: apigw.JsonSchemaType.OBJECT,
        required: ['creator_id', 'video_id'],
        additionalProperties: false,
        properties: {
          creator_id: { type: apigw.JsonSchemaType.STRING, pattern: '^[A-Za-z0-9_-]{1,64}$' },
          video_id: { type: apigw.JsonSchemaType.STRING, pattern: '^[A-Za-z0-9_-]{1,64}$' },
          // Unicode letters are checked by the handler; here only the type and a loose length.
          account_name: { type: apigw.JsonSchemaType.STRING, minLength: 1, maxLength: 128 },
          gender: { type: apigw.JsonSchemaType.INTEGER, enum: [0, 1, 2] },
          export_video: { type: apigw.JsonSchemaType.BOOLEAN },
          source_text: { type: apigw.JsonSchemaType.STRING, maxLength: MAX_SOURCE_TEXT_CHARS },
        },
      },
    });
    const path = (names: string[]) => Object.fromEntries(names.map((n) => [`method.request.path.${n}`, true]));

    const root = this.api.root.addResource('api');
    root.addResource('health').addMethod('GET', integration);
    root.addResource('openapi.json').addMethod('GET', integration);
    const pipeline = root.addResource('pipeline');
    pipeline.addResource('run').addMethod('POST', integration, {
      requestValidator: fullValidator,
      requestModels: { 'application/json': runModel },
    });
    // The console's queue view (docs/console.md); the page itself (`/`) is not routed here.
    pipeline.addResource('export-queue').addMethod('GET', integration);
    const tasks = pipeline.addResource('tasks');
    tasks.addMethod('GET', integration);
    // The filter retry (operators): the body is validated by the handler's zod schema.
    tasks.addResource('retry').addMethod('POST', integration);
    const task = tasks.addResource('{task_id}');
    task.addMethod('GET', integration, { requestValidator: paramsValidator, requestParameters: path(['task_id']) });
    task.addResource('cancel').addMethod('POST', integration, { requestValidator: paramsValidator, requestParameters: path(['task_id']) });
    task.addResource('retry').addMethod('POST', integration, { requestValidator: paramsValidator, requestParameters: path(['task_id']) });
    task
      .addResource('artifacts')
      .addResource('{artifact+}')
      .addMethod('GET', integration, { requestValidator: paramsValidator, requestParameters: path(['task_id', 'artifact']) });
    const video = pipeline.addResource('sources').addResource('{creator_id}').addResource('{video_id}');
    video.addResource('source.txt').addMethod('PUT', integration, { requestValidator: paramsValidator, requestParameters: path(['creator_id', 'video_id']) });
    video.addMethod('GET', integration, { requestValidator: paramsValidator, requestParameters: path(['creator_id', 'video_id']) });
    // Media and music (docs/media.md): with MEDIA_UPLOAD=presigned the PUT answers a presigned POST, so no media body passes here.
    for (const folder of ['media', 'music']) {
      const file = video.addResource(folder).addResource('{file_name}');
      for (const method of ['PUT', 'DELETE']) {
        file.addMethod(method, integration, { requestValidator: paramsValidator, requestParameters: path(['creator_id', 'video_id', 'file_name']) });
      }
    }

    // Answers API Gateway gives itself, in the API's own {error, message} shape.
    const json = (code: string, message: string) => ({ 'application/json': `{"error":"${code}","message":${message}}` });
    const quoted = (sentence: string) => JSON.stringify(sentence);
    const responses: Array<[string, apigw.ResponseType, string, string]> = [
      [
        'BadRequestBody',
        apigw.ResponseType.BAD_REQUEST_BODY,
        'invalid_request',
        quoted(
          'The request body does not match the run request: a JSON object with creator_id and video_id (1-64 of A-Z a-z 0-9 _ -), optional account_name, gender (0, 1, 2), export_video (boolean), source_text (at most 50,000 characters), and no other fields.',
        ),
      ],
      ['BadRequestParameters', apigw.ResponseType.BAD_REQUEST_PARAMETERS, 'invalid_request', '$context.error.messageString'],
      [
        'MissingAuthenticationToken',
        apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN,
        'missing_signature',
        quoted(
          'The request is not signed, or no such route exists. Sign every request with AWS Signature Version 4 (service execute-api), and check the path.',
        ),
      ],
      ['InvalidSignature', apigw.ResponseType.INVALID_SIGNATURE, 'invalid_signature', '$context.error.messageString'],
      ['ExpiredToken', apigw.ResponseType.EXPIRED_TOKEN, 'expired_credentials', '$context.error.messageString'],
      ['AccessDenied', apigw.ResponseType.ACCESS_DENIED, 'access_denied', quoted('The signing identity is not allowed to call this API (execute-api:Invoke).')],
      ['Throttled', apigw.ResponseType.THROTTLED, 'throttled', quoted('Too many requests: slow down and retry.')],
      ['RequestTooLarge', apigw.ResponseType.REQUEST_TOO_LARGE, 'body_too_large', quoted(`The request body is larger than ${MAX_BODY_BYTES} bytes (1 MiB).`)],
      ['UnsupportedMediaType', apigw.ResponseType.UNSUPPORTED_MEDIA_TYPE, 'unsupported_media_type', '$context.error.messageString'],
      [
        'IntegrationTimeout',
        apigw.ResponseType.INTEGRATION_TIMEOUT,
        'timeout',
        quoted('The request took longer than 29 seconds and was abandoned; retry it (submissions are safe to retry with an Idempotency-Key).'),
      ],
      ['Default4xx', apigw.ResponseType.DEFAULT_4XX, 'request_refused', '$context.error.messageString'],
      [
        'Default5xx',
        apigw.ResponseType.DEFAULT_5XX,
        'internal_error',
        quoted('The request could not be completed because of an internal error; it has been logged.'),
      ],
    ];
    for (const [id, type, code, message] of responses) this.api.addGatewayResponse(id, { type, templates: json(code, message) });
  }
}
