/**
 * Counts the AWS requests the pipeline makes (the inputs of `npm run cost`): a middleware on each
 * SDK client of the embedded stack's runtime — the clients every handler, the API and the export
 * agent share — records each command by name and outcome. For DynamoDB it also asks for
 * `ReturnConsumedCapacity: TOTAL` so that the emulator reports the request units each call
 * consumed (dynalite computes them from item sizes as DynamoDB does: 1 KB per write unit,
 * 4 KB per strongly consistent read unit); that is the only change to any request.
 */
import type { Runtime } from '../../shared/runtime.js';

export interface CommandCount {
  calls: number;
  failed: number;
  /** DynamoDB: request units reported by the emulator for the successful calls */
  capacityUnits: number;
  /** DynamoDB calls by item kind (`TASK`, `LOCK`, …), so GSI copies can be priced */
  byItemKind: Record<string, number>;
  /** DynamoDB request units of the successful calls, by item kind */
  unitsByItemKind: Record<string, number>;
  /** SQS ReceiveMessage calls that returned no message (idle polling) */
  empty: number;
  /** SQS: 64 KB chunks of the message bodies sent (SQS bills each chunk as a request) */
  chunks64k: number;
}

export type ServiceName = 'dynamodb' | 's3' | 'sqs' | 'sfn';
export type RequestCounts = Record<ServiceName, Record<string, CommandCount>>;

interface Stackable {
  middlewareStack: { add: (mw: unknown, options: Record<string, unknown>) => void };
}

const emptyCount = (): CommandCount => ({ calls: 0, failed: 0, capacityUnits: 0, byItemKind: {}, unitsByItemKind: {}, empty: 0, chunks64k: 0 });

/** An attribute value's string, marshalled (`{S: "TASK#…"}`) or not. */
function keyString(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof (value as { S?: unknown }).S === 'string') return (value as { S: string }).S;
  return undefined;
}

function itemKind(input: Record<string, unknown>): string | undefined {
  const key = (input.Key ?? input.Item) as Record<string, unknown> | undefined;
  const pk = key ? keyString(key.pk) : undefined;
  return pk?.split('#')[0];
}

/** Installs the counters on the runtime's clients; `snapshot()` copies the counts so far. */
export function countRequests(rt: Runtime): { snapshot(): RequestCounts; reset(): void } {
  let counts: RequestCounts = { dynamodb: {}, s3: {}, sqs: {}, sfn: {} };
  const install = (service: ServiceName, client: Stackable) => {
    client.middlewareStack.add(
      (next: (args: { input: Record<string, unknown> }) => Promise<{ output: Record<string, unknown> }>, context: { commandName?: string }) =>
        async (args: { input: Record<string, unknown> }) => {
          const name = (context.commandName ?? 'Unknown').replace(/Command$/, '');
          const count = (counts[service][name] ??= emptyCount());
          count.calls += 1;
          const kind = service === 'dynamodb' ? itemKind(args.input) : undefined;
          if (service === 'dynamodb') {
            args.input.ReturnConsumedCapacity ??= 'TOTAL';
            if (kind) count.byItemKind[kind] = (count.byItemKind[kind] ?? 0) + 1;
          }
          if (service === 'sqs' && name === 'SendMessage') {
            const bytes = Buffer.byteLength(typeof args.input.MessageBody === 'string' ? args.input.MessageBody : '');
            count.chunks64k += Math.max(1, Math.ceil(bytes / 65_536));
          }
          try {
            const result = await next(args);
            const output = result.output;
            if (service === 'dynamodb') {
              const consumed = output.ConsumedCapacity as { CapacityUnits?: number } | undefined;
              const units = consumed?.CapacityUnits ?? 0;
              count.capacityUnits += units;
              if (kind) count.unitsByItemKind[kind] = (count.unitsByItemKind[kind] ?? 0) + units;
            }
            if (service === 'sqs' && name === 'ReceiveMessage' && !(output.Messages as unknown[] | undefined)?.length) count.empty += 1;
            return result;
          } catch (error: unknown) {
            count.failed += 1;
            throw error;
          }
        },
      // After the document client has marshalled the input, before it is serialized.
      { step: 'serialize', priority: 'high', name: `benchRequestCounter-${service}` },
    );
    // The runtime's clients cache each command's middleware chain (cacheMiddleware): rebuild them with the counter.
    (client as { handlers?: unknown }).handlers = undefined;
  };
  install('dynamodb', rt.ddb as unknown as Stackable);
  install('s3', rt.s3 as unknown as Stackable);
  install('sqs', rt.sqs as unknown as Stackable);
  install('sfn', rt.sfn as unknown as Stackable);
  return {
    snapshot: () => JSON.parse(JSON.stringify(counts)) as RequestCounts,
    reset: () => {
      counts = { dynamodb: {}, s3: {}, sqs: {}, sfn: {} };
    },
  };
}
