/**
 * The one DynamoDB table, as both worlds create it: the CDK stack (`infra/cdk/constructs/storage.ts`)
 * and the embedded stack (`infra/embedded/embedded-resources.ts`) build it from this description,
 * and `test/infra/resource-model.test.ts` checks the two results against each other.
 *
 * One table holds every kind of item; the kind is the prefix of `pk` (`LOCK#…`, `TASK#…`), so no
 * user input can name an item of another kind, and IAM grants a function one kind at a time
 * (`dynamodb:LeadingKeys` = `<KIND>#*`). Only task records carry the index attributes.
 *
 * ```
 *   pk                        gsi1pk / gsi1sk            gsi2pk / gsi2sk
 *   LOCK#<creator>#<video>    -                          -
 *   TASK#<task_id>            CREATOR#<creator> / time   TASKS / time     (newest first)
 *   IDEM#<key>                -                          -
 *   RATE#<provider>           -                          -
 * ```
 */

/** The table's name on the embedded stack (on AWS CloudFormation names it; handlers read TABLE_NAME). */
export const DEFAULT_TABLE_NAME = 'reel-pipeline';

/** The partition key; the table has no sort key. */
export const PARTITION_KEY = 'pk';

/**
 * The TTL attribute (epoch seconds). DynamoDB deletes an expired item some time later, and the
 * embedded stack never does: conditions always compare it themselves.
 */
export const TTL_ATTRIBUTE = 'expiresAt';

/** Item kinds: the prefix of `pk` before `#` (shared/keys.ts builds the keys). */
export const ITEM_KIND = { lock: 'LOCK', task: 'TASK', idempotency: 'IDEM', rate: 'RATE' } as const;
export type ItemKind = (typeof ITEM_KIND)[keyof typeof ITEM_KIND];

/** A global secondary index: string partition and sort keys, every attribute projected. */
export interface TableIndex {
  indexName: string;
  partitionKey: string;
  sortKey: string;
  projection: 'ALL';
}

/** GSI1 lists a creator's tasks newest first (partition `CREATOR#<creator>`). */
export const CREATOR_INDEX = { indexName: 'gsi1', partitionKey: 'gsi1pk', sortKey: 'gsi1sk', projection: 'ALL' } as const satisfies TableIndex;
/** GSI2 lists all tasks newest first (one partition, {@link ALL_TASKS_PARTITION}). */
export const ALL_TASKS_INDEX = { indexName: 'gsi2', partitionKey: 'gsi2pk', sortKey: 'gsi2sk', projection: 'ALL' } as const satisfies TableIndex;
/** Every index of the table, in the order both worlds create them. */
export const TABLE_INDEXES: readonly TableIndex[] = [CREATOR_INDEX, ALL_TASKS_INDEX];

/** Partition-key prefix of a creator's tasks in {@link CREATOR_INDEX}. */
export const CREATOR_PARTITION_PREFIX = 'CREATOR';
/** The one partition of {@link ALL_TASKS_INDEX}. */
export const ALL_TASKS_PARTITION = 'TASKS';

/**
 * The table as a DynamoDB CreateTable request (a plain object: this module loads no SDK). The
 * embedded stack sends it as is; the CDK stack declares the same keys, indexes and billing mode.
 *
 * @example
 * await client.send(new CreateTableCommand(createTableRequest('reel-pipeline')));
 */
export function createTableRequest(tableName: string) {
  const stringKeys = [PARTITION_KEY, ...TABLE_INDEXES.flatMap((i) => [i.partitionKey, i.sortKey])];
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST' as const,
    AttributeDefinitions: stringKeys.map((name) => ({ AttributeName: name, AttributeType: 'S' as const })),
    KeySchema: [{ AttributeName: PARTITION_KEY, KeyType: 'HASH' as const }],
    GlobalSecondaryIndexes: TABLE_INDEXES.map((i) => ({
      IndexName: i.indexName,
      KeySchema: [
        { AttributeName: i.partitionKey, KeyType: 'HASH' as const },
        { AttributeName: i.sortKey, KeyType: 'RANGE' as const },
      ],
      Projection: { ProjectionType: i.projection },
    })),
  };
}
