import { S3Client } from '@aws-sdk/client-s3';

/** A handler environment whose S3 is the s3rver at `endpoint` (its fixed credentials, path-style). */
export function s3rverEnv(endpoint: string, bucket: string): Record<string, string> {
  return {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_ENDPOINT_URL_S3: endpoint,
    S3_FORCE_PATH_STYLE: 'true',
    BUCKET_NAME: bucket,
  };
}

/** A plain S3 client for the s3rver at `endpoint`, for a test to look at what was stored. */
export function s3rverClient(endpoint: string): S3Client {
  return new S3Client({ region: 'us-east-1', endpoint, forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
}
