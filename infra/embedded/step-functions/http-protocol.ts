/**
 * The wire protocol of the Step Functions API (AWS JSON 1.0): `POST /` with
 * `X-Amz-Target: AWSStepFunctions.<Operation>` and a JSON body; errors as `{__type, message}`
 * with a 400 (or 500) so that `@aws-sdk/client-sfn` raises its own exception classes. Knows
 * nothing of executions: each operation is a function of the request body.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MAX_PAYLOAD_BYTES, isRecord, parseJson, type JSONValue } from './json.js';

/** One API operation: the request body in, the response body out (or an {@link ApiError}). */
export type Operation = (body: Record<string, unknown>) => Record<string, unknown>;

/** An API error the SDK turns into its own exception class (`__type`). */
export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = code;
  }
}

/** A listening API server. */
export interface ApiServer {
  /** e.g. `http://127.0.0.1:4567` */
  endpoint: string;
  /** Stops accepting requests and drops open connections. */
  close(): Promise<void>;
}

/**
 * Serves the given operations (keyed by name, e.g. `StartExecution`) on `host:port`.
 *
 * @example
 * const api = await serveStepFunctionsApi({ DescribeExecution: (body) => describe(body) }, 0, '127.0.0.1');
 */
export async function serveStepFunctionsApi(operations: Record<string, Operation>, port: number, host: string): Promise<ApiServer> {
  const server = createServer((request, response) => {
    void handle(operations, request, response);
  });
  const endpoint = await listen(server, port, host);
  return {
    endpoint,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

function listen(server: Server, port: number, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address() as AddressInfo;
      const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      resolve(`http://${shownHost}:${address.port}`);
    });
  });
}

async function handle(operations: Record<string, Operation>, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const requestId = randomUUID();
  try {
    const target = request.headers['x-amz-target'];
    const prefix = 'AWSStepFunctions.';
    if (request.method !== 'POST' || typeof target !== 'string' || !target.startsWith(prefix)) {
      throw new ApiError('UnknownOperationException', 'Expected POST / with X-Amz-Target: AWSStepFunctions.<Operation>');
    }
    const text = await readBody(request, 4 * MAX_PAYLOAD_BYTES);
    const body = parseRequestBody(text);
    const operation = target.slice(prefix.length);
    if (!Object.hasOwn(operations, operation)) {
      throw new ApiError('UnknownOperationException', `${operation} is not supported by the embedded Step Functions`);
    }
    reply(response, 200, operations[operation](body), requestId);
  } catch (error: unknown) {
    if (error instanceof ApiError) {
      reply(response, 400, { __type: error.code, message: error.message }, requestId, error.code);
    } else {
      const message = error instanceof Error ? error.message : String(error);
      reply(response, 500, { __type: 'InternalFailure', message }, requestId, 'InternalFailure');
    }
  }
}

/** Dates travel as epoch seconds (with a fraction). */
export function epochSeconds(date: Date): number {
  return date.getTime() / 1000;
}

export function encodeNextToken(offset: number): string {
  return Buffer.from(JSON.stringify({ offset })).toString('base64');
}

export function decodeNextToken(token: string | undefined): number {
  if (token === undefined) return 0;
  try {
    const decoded: unknown = JSON.parse(Buffer.from(token, 'base64').toString('utf8'));
    if (isRecord(decoded) && typeof decoded.offset === 'number') return decoded.offset;
  } catch (error: unknown) {
    throw new ApiError('InvalidToken', `Invalid nextToken: ${String(error)}`);
  }
  throw new ApiError('InvalidToken', 'Invalid nextToken');
}

export function requiredString(body: Record<string, unknown>, field: string): string {
  const value = body[field];
  if (typeof value !== 'string' || value === '') {
    throw new ApiError('ValidationException', `1 validation error detected: Value at '${field}' must be a non-empty string`);
  }
  return value;
}

export function optionalString(body: Record<string, unknown>, field: string): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') {
    throw new ApiError('ValidationException', `1 validation error detected: Value at '${field}' must be a string`);
  }
  return value;
}

export function parseJsonPayload(text: string, errorCode: string, field: string): JSONValue {
  if (Buffer.byteLength(text, 'utf8') > MAX_PAYLOAD_BYTES) {
    throw new ApiError(errorCode, `Invalid ${field}: larger than ${MAX_PAYLOAD_BYTES} bytes`);
  }
  try {
    return parseJson(text);
  } catch (error: unknown) {
    throw new ApiError(errorCode, `Invalid ${field}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function parseRequestBody(text: string): Record<string, unknown> {
  let body: unknown;
  try {
    body = text === '' ? {} : JSON.parse(text);
  } catch (error: unknown) {
    throw new ApiError('SerializationException', `Request body is not JSON: ${String(error)}`);
  }
  if (!isRecord(body)) throw new ApiError('SerializationException', 'Request body must be a JSON object');
  return body;
}

async function readBody(request: IncomingMessage, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<unknown>) {
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += bytes.length;
    if (size > limit) throw new ApiError('ValidationException', `Request body larger than ${limit} bytes`);
    chunks.push(bytes);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function reply(response: ServerResponse, status: number, payload: unknown, requestId: string, errorType?: string): void {
  const text = JSON.stringify(payload);
  response.writeHead(status, {
    'content-type': 'application/x-amz-json-1.0',
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': requestId,
    ...(errorType ? { 'x-amzn-errortype': errorType } : {}),
  });
  response.end(text);
}
