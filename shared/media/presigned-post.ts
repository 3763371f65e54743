/**
 * A presigned S3 POST (browser-based upload, Signature Version 4), built with node:crypto
 * following AWS's documented algorithm (`@aws-sdk/s3-presigned-post` is not a dependency). A
 * POST, not a presigned PUT, because only a POST policy can bound the size
 * (`content-length-range`): S3 refuses a larger or smaller body with 400 EntityTooLarge/Small.
 *
 * The signature: the policy document (JSON) is base64-encoded; that string is the string to sign;
 * the signing key is HMAC-SHA256 chained over `AWS4<secret>`, date, region, `s3`, `aws4_request`.
 */
import { createHmac } from 'node:crypto';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { Runtime } from '../runtime.js';

const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();

/**
 * The SigV4 signature (hex) of a base64 POST policy.
 *
 * @example
 * signPostPolicy({ policyBase64, secretAccessKey, date: '20151229', region: 'us-east-1' }); // '8afd…'
 */
export function signPostPolicy(a: { policyBase64: string; secretAccessKey: string; date: string; region: string }): string {
  const key = hmac(hmac(hmac(hmac(`AWS4${a.secretAccessKey}`, a.date), a.region), 's3'), 'aws4_request');
  return createHmac('sha256', key).update(a.policyBase64, 'utf8').digest('hex');
}

/** What a client needs to upload: POST `url` as multipart/form-data with `fields`, then the `file` part last. */
export interface PresignedPost {
  url: string;
  fields: Record<string, string>;
  /** ISO time after which S3 refuses the form */
  expires_at: string;
}

const amzDate = (d: Date) =>
  d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');

/**
 * A POST form for exactly one key, with the body's size in `[minBytes, maxBytes]`.
 *
 * @example
 * const post = await createPresignedPost(rt, { key: 'sources/c/v/media/01.mp4', minBytes: 1, maxBytes: 512 << 20, expiresSeconds: 900 });
 */
export async function createPresignedPost(
  rt: Runtime,
  a: { key: string; minBytes: number; maxBytes: number; expiresSeconds: number; now?: Date },
): Promise<PresignedPost> {
  const now = a.now ?? new Date(rt.clock.now());
  const credentials = await rt.s3.config.credentials();
  const region = await rt.s3.config.region();
  const bucket = rt.settings.bucketName;
  const date = amzDate(now);
  const credential = `${credentials.accessKeyId}/${date.slice(0, 8)}/${region}/s3/aws4_request`;
  const expiresAt = new Date(now.getTime() + a.expiresSeconds * 1000).toISOString();
  const fields: Record<string, string> = {
    key: a.key,
    'x-amz-algorithm': 'AWS4-HMAC-SHA256',
    'x-amz-credential': credential,
    'x-amz-date': date,
    ...(credentials.sessionToken ? { 'x-amz-security-token': credentials.sessionToken } : {}),
  };
  const policy = {
    expiration: expiresAt,
    conditions: [{ bucket }, ...Object.entries(fields).map(([k, v]) => ({ [k]: v })), ['content-length-range', a.minBytes, a.maxBytes]],
  };
  const policyBase64 = Buffer.from(JSON.stringify(policy), 'utf8').toString('base64');
  fields.policy = policyBase64;
  fields['x-amz-signature'] = signPostPolicy({ policyBase64, secretAccessKey: credentials.secretAccessKey, date: date.slice(0, 8), region });
  return { url: await bucketUrl(rt, a.key), fields, expires_at: expiresAt };
}

/**
 * The bucket's own URL as the client resolves it (virtual-hosted on AWS, path style on an
 * emulator): a presigned PUT URL of the key, with the key and the query taken off.
 */
async function bucketUrl(rt: Runtime, key: string): Promise<string> {
  const url = new URL(await getSignedUrl(rt.s3, new PutObjectCommand({ Bucket: rt.settings.bucketName, Key: key }), { expiresIn: 60 }));
  // The key is the last segments of the path, however the SDK escaped them.
  const path = url.pathname.split('/').slice(0, -key.split('/').length).join('/');
  return `${url.origin}${path}/`;
}
