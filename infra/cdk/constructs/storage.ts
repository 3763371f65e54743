/**
 * Storage: the one table and the one artifact bucket (with its access-log bucket), as the
 * resource model describes them (shared/resources/table.ts, storage.ts) — the embedded stack
 * creates the same table from the same model.
 */
import { Aws, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { UNDELIVERED_EVENTS_RETENTION_DAYS } from '../../../shared/resources/queues.js';
import { PREFIX } from '../../../shared/resources/storage.js';
import { PARTITION_KEY, TABLE_INDEXES, TTL_ATTRIBUTE } from '../../../shared/resources/table.js';
import type { PipelineSettings } from '../pipeline-settings.js';
import { StackRoom } from '../stable-logical-ids.js';

export class PipelineStorage extends StackRoom {
  readonly table: dynamodb.Table;
  readonly bucket: s3.Bucket;
  readonly accessLogsBucket: s3.Bucket;
  /** the artifact bucket's name as a string built from the stack (never a Ref: see the inbox trigger) */
  readonly artifactBucketName: string;
  readonly artifactBucketArn: string;

  constructor(scope: Construct, id: string, settings: PipelineSettings) {
    super(scope, id);
    const stack = Stack.of(this);

    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: PARTITION_KEY, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: TTL_ATTRIBUTE,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: RemovalPolicy.RETAIN,
    });
    for (const index of TABLE_INDEXES) {
      this.table.addGlobalSecondaryIndex({
        indexName: index.indexName,
        partitionKey: { name: index.partitionKey, type: dynamodb.AttributeType.STRING },
        sortKey: { name: index.sortKey, type: dynamodb.AttributeType.STRING },
        projectionType: dynamodb.ProjectionType[index.projection],
      });
    }

    this.accessLogsBucket = new s3.Bucket(this, 'AccessLogs', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(90) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // A name built from the stack, never a Ref: the bucket's notification names the inbox
    // function, so nothing the inbox function depends on may depend on the bucket (a cycle).
    this.artifactBucketName = settings.artifactBucketName || `${bucketSlug(stack.stackName)}-artifacts-${Aws.ACCOUNT_ID}-${Aws.REGION}`;
    this.artifactBucketArn = `arn:${Aws.PARTITION}:s3:::${this.artifactBucketName}`;
    const retention = Duration.days(settings.artifactRetentionDays);
    this.bucket = new s3.Bucket(this, 'Artifacts', {
      bucketName: this.artifactBucketName,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: 'artifacts/',
      lifecycleRules: [
        { id: 'expire-task-artifacts', prefix: PREFIX.tasks, expiration: retention },
        { id: 'expire-accepted-inbox-documents', prefix: PREFIX.inboxAccepted, expiration: retention },
        { id: 'expire-rejected-inbox-documents', prefix: PREFIX.inboxRejected, expiration: retention },
        // A document whose upload event was never handled is kept as long as that event can be
        // replayed from the undelivered-events queue; after that both are gone.
        { id: 'expire-unhandled-inbox-documents', prefix: PREFIX.inbox, expiration: Duration.days(UNDELIVERED_EVENTS_RETENTION_DAYS) },
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }

  /**
   * S3 upload trigger: an object created under inbox/ invokes `fn`, as a native bucket
   * notification (no custom resource, whose role would need s3:PutBucketNotification on *).
   * S3 checks the permission when the bucket is configured, so the bucket waits for it.
   */
  invokeOnInboxUpload(fn: lambda.IFunction): void {
    const invoke = new lambda.CfnPermission(this, 'InboxInvokedByS3', {
      action: 'lambda:InvokeFunction',
      functionName: fn.functionArn,
      principal: 's3.amazonaws.com',
      sourceAccount: Aws.ACCOUNT_ID,
      sourceArn: this.artifactBucketArn,
    });
    const cfnBucket = this.bucket.node.defaultChild as s3.CfnBucket;
    cfnBucket.notificationConfiguration = {
      lambdaConfigurations: [
        { event: 's3:ObjectCreated:*', function: fn.functionArn, filter: { s3Key: { rules: [{ name: 'prefix', value: PREFIX.inbox }] } } },
      ],
    };
    this.bucket.node.addDependency(invoke);
  }
}

/** Stack names allow capitals and are long; bucket names do not. */
function bucketSlug(stackName: string): string {
  return (
    stackName
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .slice(0, 20)
      .replace(/^-+|-+$/g, '') || 'reel-pipeline'
  );
}
