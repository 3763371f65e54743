import { createHash, createHmac } from 'node:crypto';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { SignatureV4 } from '@smithy/signature-v4';

import type { RequestSigner } from './api-client.js';

type SourceData = string | ArrayBuffer | ArrayBufferView;
const bytesOf = (data: SourceData): Buffer =>
  typeof data === 'string'
    ? Buffer.from(data, 'utf8')
    : ArrayBuffer.isView(data)
      ? Buffer.from(data.buffer, data.byteOffset, data.byteLength)
      : Buffer.from(data);

/** sha256 / HMAC-SHA256 from node:crypto in the shape the smithy signer expects. */
class NodeSha256 {
  private readonly hash;
  constructor(secret?: SourceData) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytesOf(secret));
  }
  update(data: SourceData): void {
    this.hash.update(bytesOf(data));
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.hash.digest()));
  }
}

/**
 * Signs requests for API Gateway (`execute-api`) with AWS Signature Version 4, with credentials
 * from the standard chain (environment, shared config and SSO profiles, web identity, container
 * and instance roles) — the same chain the AWS CLI uses.
 */
export function sigV4Signer(region: string): RequestSigner {
  const signer = new SignatureV4({ credentials: defaultProvider(), region, service: 'execute-api', sha256: NodeSha256 });
  return async ({ method, url, headers, body, bodySha256 }) => {
    const query: Record<string, string | string[]> = {};
    for (const [k, v] of url.searchParams) {
      const prior = query[k];
      query[k] = prior === undefined ? v : Array.isArray(prior) ? [...prior, v] : [prior, v];
    }
    const signed = await signer.sign({
      method,
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port ? Number(url.port) : undefined,
      path: url.pathname,
      query,
      headers: { ...headers, host: url.host, ...(bodySha256 ? { 'x-amz-content-sha256': bodySha256 } : {}) },
      body: body ?? '',
    });
    return signed.headers;
  };
}
