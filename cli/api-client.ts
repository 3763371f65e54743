import { createReadStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';

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

/** The region in an API Gateway URL (`https://<id>.execute-api.<region>.amazonaws.com/...`). */
export function regionOfApiUrl(url: string): string | undefined {
  const host = new URL(url).hostname;
  return /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$/.exec(host)?.[1];
}

/**
 * A SigV4 signer loaded on first use: the AWS credential chain is a large module graph that a
 * command against the embedded stack never needs.
 */
export function lazySigV4Signer(region: string): RequestSigner {
  let signer: Promise<RequestSigner> | undefined;
  return async (request) => {
    signer ??= import('./sigv4.js').then((m) => m.sigV4Signer(region));
    return (await signer)(request);
  };
}

/** The API refused a request: its status, stable code and sentence. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly body: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The API could not be reached at all (refused connection, DNS, TLS). */
export class ApiUnreachableError extends Error {
  constructor(url: string, cause: unknown) {
    super(`The API at ${url} could not be reached (${cause instanceof Error ? cause.message : String(cause)}). Is it running? (npm start, or --api URL)`, {
      cause,
    });
    this.name = 'ApiUnreachableError';
  }
}

export interface ApiAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: Record<string, unknown>;
}

/** A body streamed from a file: its length (and, for a signer, its sha256) known up front. */
export interface StreamBody {
  open: () => Readable;
  length: number;
  sha256?: string;
  contentType?: string;
}

interface SendOptions {
  headers?: Record<string, string>;
  body?: string | StreamBody;
  /** do not sign (a presigned URL carries its own authorization) */
  unsigned?: boolean;
}

/**
 * The HTTP API seen by the CLI: JSON requests, streamed uploads and downloads, optionally signed
 * with SigV4. node:http rather than fetch: uploads need an exact `content-length` on a streamed
 * body (S3's POST form refuses chunked bodies) and signed requests need every header as sent.
 */
export class ApiClient {
  readonly base: URL;
  constructor(
    baseUrl: string,
    private readonly signer?: RequestSigner,
  ) {
    this.base = new URL(baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`);
  }

  /** `path` relative to the API's base, e.g. `api/pipeline/tasks`. */
  url(path: string): URL {
    return new URL(path.replace(/^\//, ''), this.base);
  }

  async send(method: string, target: URL, options: SendOptions = {}): Promise<IncomingMessage> {
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    const body = options.body;
    if (typeof body === 'string') {
      headers['content-length'] = String(Buffer.byteLength(body));
    } else if (body) {
      headers['content-length'] = String(body.length);
      if (body.contentType) headers['content-type'] = body.contentType;
    } else if (method !== 'GET' && method !== 'HEAD' && method !== 'DELETE') {
      headers['content-length'] = '0';
    }
    if (this.signer && !options.unsigned) {
      Object.assign(
        headers,
        await this.signer({
          method,
          url: target,
          headers,
          body: typeof body === 'string' ? body : undefined,
          bodySha256: typeof body === 'object' ? body.sha256 : undefined,
        }),
      );
    }
    const requestFn = target.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<IncomingMessage>((resolve, reject) => {
      const req = requestFn(target, { method, headers }, resolve);
      req.on('error', (error) => reject(new ApiUnreachableError(target.origin, error)));
      if (typeof body === 'string') req.end(body);
      else if (body) {
        const source = body.open();
        source.on('error', (error) => req.destroy(error));
        source.pipe(req);
      } else req.end();
    });
  }

  /** Sends and reads a JSON answer; a status of 400 or more becomes an {@link ApiError}. */
  async call(method: string, path: string | URL, options: SendOptions & { json?: unknown } = {}): Promise<ApiAnswer> {
    const target = typeof path === 'string' ? this.url(path) : path;
    const body = options.json !== undefined ? JSON.stringify(options.json) : options.body;
    const headers = options.json !== undefined ? { 'content-type': 'application/json', ...options.headers } : options.headers;
    const res = await this.send(method, target, { ...options, headers, body });
    const text = await readText(res);
    let json: Record<string, unknown> = {};
    if (text.trim()) {
      try {
        json = JSON.parse(text) as Record<string, unknown>;
      } catch {
        json = { error: 'not_json', message: text.slice(0, 300) };
      }
    }
    const status = res.statusCode ?? 0;
    if (status >= 400) {
      const code = typeof json.error === 'string' ? json.error : `http_${status}`;
      const message = typeof json.message === 'string' ? json.message : `The API answered ${status} to ${method} ${target.pathname}.`;
      throw new ApiError(status, code, message, json);
    }
    return { status, headers: res.headers, json };
  }

  /**
   * Downloads to `file` (written beside it as `.part`, renamed when complete, so a file at that
   * path is always whole). Follows one redirect to a presigned URL, which is fetched unsigned.
   */
  async download(path: string, file: string): Promise<number> {
    let res = await this.send('GET', this.url(path), { headers: { accept: '*/*' } });
    if (res.statusCode && res.statusCode >= 300 && res.statusCode < 400 && res.headers.location) {
      res.resume();
      res = await this.send('GET', new URL(res.headers.location, this.base), { headers: { accept: '*/*' }, unsigned: true });
    }
    if (res.statusCode !== 200) {
      const text = await readText(res);
      let message = `The download of ${path} answered ${res.statusCode}.`;
      try {
        const body = JSON.parse(text) as { message?: string };
        if (body.message) message = body.message;
      } catch {
        // not JSON (S3's XML): keep the status sentence
      }
      throw new ApiError(res.statusCode ?? 0, 'download_failed', message, {});
    }
    const part = `${file}.part`;
    let bytes = 0;
    res.on('data', (chunk: Buffer) => (bytes += chunk.length));
    try {
      await pipeline(res, createWriteStream(part));
      await rename(part, file);
    } catch (error: unknown) {
      await rm(part, { force: true });
      throw error;
    }
    return bytes;
  }
}

export function fileBody(path: string, length: number, extra: Partial<StreamBody> = {}): StreamBody {
  return { open: () => createReadStream(path), length, ...extra };
}

async function readText(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
