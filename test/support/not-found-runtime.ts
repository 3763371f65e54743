import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRuntime, type Runtime } from '../../shared/runtime.js';

/**
 * A runtime whose every AWS endpoint is a loopback server answering 404 to everything: the SDK
 * clients do their whole work (middleware, signing, a real HTTP round trip) and no emulator is
 * needed. For tests of what the clients do around a call, whatever its outcome.
 */
export async function notFoundRuntime(names: { region?: string; tableName: string; bucketName: string }): Promise<{ rt: Runtime; close: () => Promise<void> }> {
  const server = createServer((_req, res) => {
    res.writeHead(404, { 'content-type': 'application/xml' });
    res.end('<Error><Code>NoSuchKey</Code><Message>none</Message></Error>');
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const rt = createRuntime({
    AWS_REGION: names.region ?? 'us-east-1',
    AWS_ACCESS_KEY_ID: 'x',
    AWS_SECRET_ACCESS_KEY: 'x',
    AWS_ENDPOINT_URL_DYNAMODB: endpoint,
    AWS_ENDPOINT_URL_S3: endpoint,
    AWS_ENDPOINT_URL_SQS: endpoint,
    AWS_ENDPOINT_URL_SFN: endpoint,
    S3_FORCE_PATH_STYLE: 'true',
    TABLE_NAME: names.tableName,
    BUCKET_NAME: names.bucketName,
  });
  return { rt, close: () => new Promise<void>((ok) => server.close(() => ok())) };
}
