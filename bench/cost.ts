/**
 * `npm run cost -- --videos 1000` — the orchestration cost of N videos on AWS, from what the last
 * benchmark measured (`bench/results/latest.json`, export-bound run) and the published us-east-1
 * prices in `bench/aws-prices.ts`:
 *
 *   - Step Functions Standard: state transitions per task as the definition actually executed
 *     them (states entered + retries, from the interpreter's events in the bench);
 *   - Lambda: invocations and mean duration per function as measured (Task attempts; the export
 *     worker's job; the API's answer to the submission) × MemorySize from the CDK stack;
 *   - SQS FIFO, DynamoDB (request units reported per call, plus the two GSI copies of every task
 *     item write), S3 requests, counted per task in the bench;
 *   - CloudWatch Logs ingestion: the task's own log lines (measured) plus estimates for the
 *     Lambda platform lines and the state machine's execution log (stated below);
 *   - API Gateway: one REST call per submission.
 *
 * Gemini and TTS usage the same videos imply is printed separately (characters, requests).
 *
 *   npm run cost -- --videos 1000 [--results bench/results/latest.json] [--no-synth]
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { AWS_PRICES, PRICES_REGION, PRICES_TAKEN_ON, UNVERIFIED_PRICES, type PriceName } from './aws-prices.js';
import { lambdaConfigs, type FunctionName } from './lambda-memory.js';
import type { OurDesignResult, SoloResult } from './parts/our-design.js';
import type { OverheadResult } from './parts/orchestration-overhead.js';
import type { CommandCount, RequestCounts } from './support/request-counter.js';

/** Bytes of the START, END and REPORT lines Lambda writes per invocation (estimate, not measured). */
export const LAMBDA_PLATFORM_LOG_BYTES = 350;
/** Bytes of one Step Functions execution-history log event besides its data (estimate, not measured). */
export const SFN_LOG_EVENT_ENVELOPE_BYTES = 250;
/** Polly's largest request (`shared/tts/polly-tts.ts` POLLY_MAX_CHARS), two requests per chunk (audio, speech marks). */
const POLLY_MAX_CHARS = 3000;
/** STORY_TARGET_CHARS default (`shared/settings.ts`); Gemini may write up to 1.5 times this. */
const STORY_TARGET_CHARS = 500;

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({
  options: {
    videos: { type: 'string', default: '1000' },
    results: { type: 'string', default: join(projectRoot, 'bench/results/latest.json') },
    'no-synth': { type: 'boolean', default: false },
  },
});
const videos = Number(args.videos);
if (!Number.isFinite(videos) || videos <= 0) throw new Error(`--videos must be a positive number, got "${args.videos}"`);
if (!existsSync(String(args.results))) {
  console.error(`No benchmark results at ${args.results}: run \`npm run bench\` first (the cost is computed from what it measured).`);
  process.exit(1);
}
const results = JSON.parse(readFileSync(String(args.results), 'utf8')) as {
  finished_at: string;
  machine: { cpu_model: string; logical_cpus: number };
  export_bound: OurDesignResult | null;
  overhead: OverheadResult | null;
  solo?: SoloResult | null;
};
const e = results.export_bound;
if (!e) {
  console.error(`${args.results} has no export-bound run: run \`npm run bench\` with the export part.`);
  process.exit(1);
}

const log = (line = '') => process.stdout.write(`${line}\n`);
const tasks = e.succeeded || e.tasks;
const perTask = (v: number) => v / tasks;
const cmd = (service: keyof RequestCounts, name: string): CommandCount =>
  e.requests[service][name] ?? { calls: 0, failed: 0, capacityUnits: 0, byItemKind: {}, unitsByItemKind: {}, empty: 0, chunks64k: 0 };
const usd = (v: number) => (v >= 0.01 ? `$${v.toFixed(2)}` : `$${v.toFixed(4)}`);
const fmt = (v: number, digits = 2) => (Number.isInteger(v) ? String(v) : v.toFixed(digits));

// ---------------------------------------------------------------------------------------------
// Lambda: memory from the stack, durations from the bench

const memory = lambdaConfigs({ synth: !args['no-synth'], projectRoot, log });
if (memory.warning) log(`\n${memory.warning}\n`);

interface LambdaRow {
  fn: FunctionName;
  what: string;
  invocationsPerVideo: number;
  meanMs: number;
  measured: string;
}
// Durations: of tasks run alone (as each Lambda invocation runs) when the bench measured them,
// else of the export-bound run (20 tasks sharing one process: upper bounds). Invocations per
// video always come from the export-bound run (retries included).
const solo = results.solo && results.solo.failed === 0 ? results.solo : null;
const durations = solo ? solo.task_state_ms : e.task_state_ms;
const durationBasis = solo ? `alone (${solo.tasks} tasks, one at a time)` : `${e.tasks} at once (upper bound)`;
const stateRow = (fn: FunctionName, state: string): LambdaRow => {
  const s = e.task_state_ms[state];
  return {
    fn,
    what: `${state} state`,
    invocationsPerVideo: s ? perTask(s.count) : 0,
    meanMs: durations[state]?.mean ?? s?.mean ?? 0,
    measured: `Task attempt, ${durationBasis}`,
  };
};
const exportAttempts = e.task_state_ms.Export?.count ?? tasks;
const submitMs = results.overhead?.submit_latency.p50_ms ?? e.submit_latency.p50_ms ?? 0;
const lambdaRows: LambdaRow[] = [
  {
    fn: 'api',
    what: 'submission (POST /run)',
    invocationsPerVideo: 1,
    meanMs: submitMs,
    measured: results.overhead ? 'answer time, p50 of part 3' : 'answer time, p50 of part 1',
  },
  stateRow('start', 'Start'),
  stateRow('story', 'Story'),
  stateRow('tts', 'Tts'),
  stateRow('draft', 'Draft'),
  {
    fn: 'export',
    what: 'export worker',
    invocationsPerVideo: perTask(exportAttempts),
    meanMs: (solo ? solo.export_stage_ms.mean : e.export_stage_ms.mean) ?? 0,
    measured: `job accepted → video stored, ${solo ? 'alone' : 'export-bound run'}`,
  },
  stateRow('finalize', 'Finalize'),
  // No state invokes it since the redrive change: EventBridge does, once per failed execution, so a
  // successful video costs none.
  { fn: 'fail', what: 'failed-execution event (EventBridge)', invocationsPerVideo: 0, meanMs: 0, measured: 'only on failures, not in a successful run' },
];

// ---------------------------------------------------------------------------------------------
// Line items

interface Item {
  service: string;
  quantityPerVideo: number;
  unit: string;
  price: PriceName;
  how: string;
}
const items: Item[] = [];
items.push({
  service: 'Step Functions Standard',
  quantityPerVideo: e.transitions.per_task_mean ?? 0,
  unit: 'transitions',
  price: 'stepFunctionsStandardTransition',
  how: `states entered + retries, as executed (${e.transitions.retries_seen} retries in ${e.tasks} tasks): ${e.transitions.states_of_first_task.join(' → ')}`,
});
let gbSecondsArm = 0;
let gbSecondsX86 = 0;
let invocations = 0;
for (const row of lambdaRows) {
  const cfg = memory.functions[row.fn];
  const gbs = row.invocationsPerVideo * (row.meanMs / 1000) * (cfg.memoryMb / 1024);
  if (cfg.architecture === 'arm64') gbSecondsArm += gbs;
  else gbSecondsX86 += gbs;
  invocations += row.invocationsPerVideo;
}
items.push({ service: 'Lambda requests', quantityPerVideo: invocations, unit: 'invocations', price: 'lambdaRequest', how: 'see the per-function table' });
items.push({
  service: 'Lambda duration arm64',
  quantityPerVideo: gbSecondsArm,
  unit: 'GB-s',
  price: 'lambdaGbSecondArm64',
  how: 'Σ invocations × mean duration × MemorySize',
});
items.push({
  service: 'Lambda duration x86_64',
  quantityPerVideo: gbSecondsX86,
  unit: 'GB-s',
  price: 'lambdaGbSecondX86',
  how: 'Σ invocations × mean duration × MemorySize',
});

const receive = cmd('sqs', 'ReceiveMessage');
const sqsPerTask =
  cmd('sqs', 'SendMessage').chunks64k + (receive.calls - receive.empty) + cmd('sqs', 'DeleteMessage').calls + cmd('sqs', 'ChangeMessageVisibility').calls;
items.push({
  service: 'SQS FIFO',
  quantityPerVideo: perTask(sqsPerTask),
  unit: 'requests',
  price: 'sqsFifoRequest',
  how: `send (64 KB chunks) + receives that got a message + delete + visibility renewals; ${receive.empty} empty receives of idle polling left out (a fixed cost, not per video)`,
});

const writes = ['PutItem', 'UpdateItem', 'DeleteItem'].map((n) => cmd('dynamodb', n));
const tableWriteUnits = writes.reduce((a, c) => a + c.capacityUnits + c.failed, 0);
const taskItemWriteUnits = writes.reduce((a, c) => a + (c.unitsByItemKind?.TASK ?? 0), 0);
const readUnits = ['GetItem', 'Query', 'Scan'].map((n) => cmd('dynamodb', n)).reduce((a, c) => a + c.capacityUnits, 0);
items.push({
  service: 'DynamoDB writes',
  quantityPerVideo: perTask(tableWriteUnits + 2 * taskItemWriteUnits),
  unit: 'WRU',
  price: 'dynamoDbWriteRequestUnit',
  how: `table ${fmt(perTask(tableWriteUnits))} WRU (units reported per call; failed conditional writes at 1 WRU) + 2 GSI copies of each task-item write ${fmt(perTask(2 * taskItemWriteUnits))} WRU (both indexes project ALL)`,
});
items.push({
  service: 'DynamoDB reads',
  quantityPerVideo: perTask(readUnits),
  unit: 'RRU',
  price: 'dynamoDbReadRequestUnit',
  how: 'units reported per GetItem/Query (strongly consistent)',
});

const s3Put = cmd('s3', 'PutObject').calls + cmd('s3', 'CopyObject').calls + cmd('s3', 'ListObjectsV2').calls;
const s3Get = cmd('s3', 'GetObject').calls + cmd('s3', 'HeadObject').calls + e.exporter_media_downloads;
items.push({ service: 'S3 PUT/LIST', quantityPerVideo: perTask(s3Put), unit: 'requests', price: 's3PutRequest', how: 'PutObject + ListObjectsV2 (counted)' });
items.push({
  service: 'S3 GET/HEAD',
  quantityPerVideo: perTask(s3Get),
  unit: 'requests',
  price: 's3GetRequest',
  how: `GetObject + HeadObject (counted) + ${fmt(perTask(e.exporter_media_downloads))} presigned media downloads by the exporter; the user's download of the video not included`,
});

const appLogBytes = e.artifacts_per_task['log.jsonl']?.mean_bytes ?? 0;
const platformLogBytes = invocations * LAMBDA_PLATFORM_LOG_BYTES;
const statesEntered = e.transitions.states_of_first_task.length;
const taskAttemptsPerVideo = Object.values(e.task_state_ms).reduce((a, s) => a + s.count, 0) / tasks;
const sfnEvents = 2 + 2 * statesEntered + 3 * taskAttemptsPerVideo;
const sfnLogBytes = 2 * (e.state_payload_bytes_per_task ?? 0) + sfnEvents * SFN_LOG_EVENT_ENVELOPE_BYTES;
items.push({
  service: 'CloudWatch Logs ingestion',
  quantityPerVideo: (appLogBytes + platformLogBytes + sfnLogBytes) / 1e9,
  unit: 'GB',
  price: 'cloudWatchLogsIngestionGb',
  how:
    `task log lines ${Math.round(appLogBytes)} B (measured) + Lambda START/END/REPORT ≈ ${Math.round(platformLogBytes)} B (estimate: ${LAMBDA_PLATFORM_LOG_BYTES} B × invocations) + ` +
    `state machine log (level ALL, with data) ≈ ${Math.round(sfnLogBytes)} B (estimate: ${Math.round(sfnEvents)} events × ${SFN_LOG_EVENT_ENVELOPE_BYTES} B + 2 × ${e.state_payload_bytes_per_task} B of state data measured)`,
});
items.push({
  service: 'API Gateway REST',
  quantityPerVideo: 1,
  unit: 'requests',
  price: 'apiGatewayRestRequest',
  how: 'the submission; status polls add $3.50 per million each',
});

// ---------------------------------------------------------------------------------------------
// Print

log(`Orchestration cost of ${videos} videos on AWS (${PRICES_REGION}, list prices taken ${PRICES_TAKEN_ON}, free tiers not applied)`);
log(
  `measured by the benchmark of ${results.finished_at} on ${results.machine.cpu_model} (${results.machine.logical_cpus} CPUs): ${e.tasks} tasks, narrations ≈ ${e.narration_s.mean} s`,
);
log(`Lambda memory: ${memory.source} — ${memory.detail}`);
log();
log('Lambda, per function');
const lrows = lambdaRows.map((r) => {
  const cfg = memory.functions[r.fn];
  const gbs = r.invocationsPerVideo * (r.meanMs / 1000) * (cfg.memoryMb / 1024);
  const price = cfg.architecture === 'arm64' ? AWS_PRICES.lambdaGbSecondArm64.usd : AWS_PRICES.lambdaGbSecondX86.usd;
  return [
    r.fn,
    r.what,
    `${cfg.memoryMb} MB ${cfg.architecture}`,
    fmt(r.invocationsPerVideo),
    `${fmt(r.meanMs, 0)} ms`,
    r.measured,
    fmt(gbs, 4),
    usd(gbs * videos * price + r.invocationsPerVideo * videos * AWS_PRICES.lambdaRequest.usd),
  ];
});
table(['function', 'runs', 'memory', 'calls/video', 'mean duration', 'duration measured as', 'GB-s/video', `cost × ${videos}`], lrows);

log(
  solo
    ? `Durations: ${solo.tasks} tasks of ≈${solo.narration_s_mean} s narration run alone, one at a time, as each Lambda invocation runs (the export-bound run, ` +
        `${e.tasks} tasks sharing one process and one eSpeak engine, measured Tts ${e.task_state_ms.Tts?.mean} ms and Draft ${e.task_state_ms.Draft?.mean} ms per state).`
    : `Durations were measured with ${e.tasks} tasks running at once in one process (one event loop, one eSpeak engine); on Lambda each invocation runs alone, ` +
        `so these GB-s are upper bounds (TTS: the shared engine was busy ${e.tts_window_ms ?? '?'} ms for all ${e.tasks} tasks).`,
);
log();
log(`Line items for ${videos} videos`);
let total = 0;
const rows = items.map((it) => {
  const p = AWS_PRICES[it.price];
  const cost = it.quantityPerVideo * videos * p.usd;
  total += cost;
  return [
    it.service,
    `${fmt(it.quantityPerVideo, it.unit === 'GB' ? 6 : 2)} ${it.unit}`,
    `${fmt(it.quantityPerVideo * videos, it.unit === 'GB' ? 4 : 0)} ${it.unit}`,
    `${priceText(p.usd, it.unit)}${p.source === 'aws' ? '' : ' *'}`,
    usd(cost),
  ];
});
table(['item', 'per video', `× ${videos}`, 'price', 'cost'], rows);
log(`${'TOTAL'.padEnd(26)} ${usd(total)} for ${videos} videos (${usd(total / videos)} per video)`);
log();
log('How each quantity was obtained:');
for (const it of items) log(`  - ${it.service}: ${it.how}`);
log('  - Step Functions API calls (StartExecution, SendTaskSuccess) are not billed; EventBridge events from AWS services are free.');
log();
log(`* not verified on AWS's own page (read on dated third-party guides): ${UNVERIFIED_PRICES.join(', ')} — see bench/aws-prices.ts.`);
log('Not included: storage (S3 GB-month, log retention), data transfer, X-Ray traces, CloudWatch dashboard/alarms/metrics,');
log('Secrets Manager, the SQS pollers of the Lambda event sources on idle queues (a fixed monthly cost), and status polls.');
log('Standard, not Express: the Export state waits for the exporter with .waitForTaskToken (Express does not support it) and a');
log(`task may wait hours in the export queue (Express runs at most 5 minutes) — see docs/cost.md, "Standard vs Express".`);

// Gemini / TTS
const templateChars = [...readFileSync(join(projectRoot, 'shared/story/prompts/narration-v1.txt'), 'utf8').replace(/\{\{\w+\}\}/g, '')].length;
const sourceChars = e.characters.source_mean ?? 0;
const benchNarration = e.characters.narration_mean ?? 0;
const pollyRequests = (chars: number) => 2 * Math.max(1, Math.ceil(chars / POLLY_MAX_CHARS));
log();
log(`Provider usage these ${videos} videos imply (not priced here)`);
table(
  ['provider', 'per video', `× ${videos}`, 'basis'],
  [
    [
      'Gemini requests (story)',
      '1',
      String(videos),
      'one generateContent per task when STORY provider is gemini; + retries (none seen: the bench ran the offline story)',
    ],
    [
      'Gemini input characters',
      fmt(templateChars + sourceChars, 0),
      fmt((templateChars + sourceChars) * videos, 0),
      `prompt template ${templateChars} + source ${fmt(sourceChars, 0)} (bench sources)`,
    ],
    ['Gemini output characters', `≈${STORY_TARGET_CHARS} (≤${STORY_TARGET_CHARS * 1.5})`, `≈${STORY_TARGET_CHARS * videos}`, 'STORY_TARGET_CHARS default'],
    ['TTS characters (Gemini narration)', `≈${STORY_TARGET_CHARS}`, `≈${STORY_TARGET_CHARS * videos}`, 'the narration Gemini is asked for'],
    ['TTS characters (offline story)', fmt(benchNarration, 0), fmt(benchNarration * videos, 0), 'as measured: the cleaned source'],
    [
      'Polly requests',
      String(pollyRequests(STORY_TARGET_CHARS * 1.5)),
      String(pollyRequests(STORY_TARGET_CHARS * 1.5) * videos),
      `audio + speech marks per chunk of ≤ ${POLLY_MAX_CHARS} characters (each sends the chunk's characters)`,
    ],
  ],
);

/** `$0.20 per 1M invocations`, `$0.0000133334 per GB-s`, `$0.50 per GB` */
function priceText(perUnit: number, unit: string): string {
  if (unit === 'GB-s' || unit === 'GB') return `$${perUnit} per ${unit}`;
  const [scale, label] = perUnit * 1000 >= 0.001 && perUnit * 1000 < 1 ? [1000, '1,000'] : [1_000_000, '1M'];
  return `$${Number((perUnit * scale).toPrecision(4))} per ${label} ${unit}`;
}

function table(header: string[], body: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ');
  log(line(header));
  log(line(widths.map((w) => '-'.repeat(Math.min(w, 40)))));
  for (const r of body) log(line(r));
}
