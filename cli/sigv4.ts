import { createHash, createHmac } from 'node:crypto';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { SignatureV4 } from '@smithy/signature-v4';

/** What the API client hands a signer: the request as it will be sent. */
export interface SignableRequest {
  method: string;
  url: URL;
  headers: Record<string, string>;
  /** the body, or the hex sha256 of a streamed one */
  body?: string | Buffer;
  bodySha256?: string;
}

/** Adds authentication headers to a request about to be sent. */
export type RequestSigner = (request: SignableRequest) => Promise<Record<string, string>>;

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

/** The region in an API Gateway URL (`https://<id>.execute-api.<region>.amazonaws.com/...`). */
export function regionOfApiUrl(url: string): string | undefined {
  const host = new URL(url).hostname;
  return /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$/.exec(host)?.[1];
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
