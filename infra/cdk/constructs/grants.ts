/**
 * Least privilege in the pipeline's own terms: items of the one table by kind (the prefix of
 * `pk`, through `dynamodb:LeadingKeys`), objects of the one bucket by key prefix. Every grant
 * made with these is asserted statement by statement in test/infra/cdk-pipeline-stack.test.ts.
 */
import * as iam from 'aws-cdk-lib/aws-iam';
import type { ItemKind } from '../../../shared/resources/table.js';
import type { PipelineFunction } from '../pipeline-function.js';

export type ItemAction = 'GetItem' | 'PutItem' | 'UpdateItem' | 'DeleteItem';
export type ObjectAction = 's3:GetObject' | 's3:PutObject' | 's3:DeleteObject' | 's3:AbortMultipartUpload';

/** Grants on the table and the artifact bucket, by item kind and key prefix. */
export class PipelineGrants {
  constructor(
    private readonly tableArn: string,
    /** the artifact bucket's ARN as a string built from the stack (never a Ref: see storage.ts) */
    private readonly artifactBucketArn: string,
  ) {}

  /** One statement: these actions on items whose `pk` starts with `<KIND>#`. */
  itemStatement(actions: ItemAction[], kinds: ItemKind[]): iam.PolicyStatement {
    return new iam.PolicyStatement({
      actions: actions.map((a) => `dynamodb:${a}`),
      resources: [this.tableArn],
      conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': kinds.map((k) => `${k}#*`) } },
    });
  }

  /** One statement per item kind. */
  allowItems(f: PipelineFunction, access: Partial<Record<ItemKind, ItemAction[]>>): void {
    for (const [kind, actions] of Object.entries(access) as Array<[ItemKind, ItemAction[]]>) f.role.addToPolicy(this.itemStatement(actions, [kind]));
  }

  /** These actions on every object under each prefix (`tasks/` → `<bucket>/tasks/*`). */
  allowObjects(f: PipelineFunction, actions: ObjectAction[], prefixes: string[]): void {
    f.role.addToPolicy(new iam.PolicyStatement({ actions, resources: prefixes.map((p) => this.objectsUnder(p)) }));
  }

  /** The IAM resource of every object under a prefix. */
  objectsUnder(prefix: string): string {
    return `${this.artifactBucketArn}/${prefix}*`;
  }

  /**
   * s3:ListBucket on the bucket itself. S3 answers 404 for a missing key only to a caller that may
   * list the bucket, 403 to anyone else — and the code reads "missing" from 404 (a source not
   * uploaded yet, a video not rendered yet, an inbox document already moved). A prefix condition
   * does not help: the implicit check made by GetObject carries no s3:prefix.
   */
  bucketListing(): iam.PolicyStatement {
    return new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [this.artifactBucketArn] });
  }

  allowListing(f: PipelineFunction): void {
    f.role.addToPolicy(this.bucketListing());
  }
}
