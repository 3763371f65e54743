import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import type { Clock } from '../../shared/clock.js';
import { createTableRequest } from '../../shared/resources/table.js';
import { createRuntime, type Runtime } from '../../shared/runtime.js';

/** An in-process dynalite with the pipeline's table (shared/resources/table.ts), for unit tests of table logic. */
export async function startTestTable(): Promise<{ runtimeWith(clock: Clock): Runtime; close(): Promise<void> }> {
  const server = dynalite({ createTableMs: 0 });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
  const address = server.address();
  const endpoint = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  const env = { AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'x', AWS_ENDPOINT_URL_DYNAMODB: endpoint, TABLE_NAME: 'reel-test' };
  await new DynamoDBClient({ region: env.AWS_REGION, endpoint, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } }).send(
    new CreateTableCommand(createTableRequest(env.TABLE_NAME)),
  );
  return {
    runtimeWith: (clock) => createRuntime(env, clock),
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}
