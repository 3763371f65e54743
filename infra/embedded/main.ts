import { createLogger } from '../../shared/logger.js';
import { SETTING_ENV_NAMES } from '../../shared/settings.js';
import { PortInUseError, startEmbeddedStack } from './embedded-stack.js';

/**
 * `npm start`: the whole pipeline on this machine, one process.
 * Settings: PORT (51082), HOST (127.0.0.1), DATA_DIR (.data), EXPORT_VIDEO_URL (an external
 * exporter instead of the embedded one; EXPORT_AUTH_TOKEN is its bearer token), EXPORT_WORKER=off (no in-process export agent),
 * PIPELINE_TEST_CONTROLS=1 (test-only gates and faults under /__test).
 */
const log = createLogger({ stage: 'embedded-stack' });
const env = process.env;
// Handler settings from this environment (GEMINI_*, TTS_*, STORY_*, rate limits, …) reach the
// handlers; the names, endpoints and queue the stack creates for itself are its own, and so is the
// choice of exporter (EXPORTER is the export Lambda's; this stack drives its own export service).
const OWNED_BY_STACK = new Set([
  'TABLE_NAME',
  'BUCKET_NAME',
  'STATE_MACHINE_ARN',
  'EXPORT_QUEUE_URL',
  'EXPORT_VIDEO_URL',
  'ARTIFACT_DELIVERY',
  'S3_FORCE_PATH_STYLE',
  'EXPORTER',
]);
const extraEnv = Object.fromEntries(
  SETTING_ENV_NAMES.filter((name) => !OWNED_BY_STACK.has(name) && env[name] !== undefined).map((name) => [name, env[name] as string]),
);
const port = Number(env.PORT ?? 51082);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`reel-pipeline cannot start: PORT must be a port number from 0 to 65535, got "${env.PORT}".\n`);
  process.exit(1);
}
const stack = await startEmbeddedStack({
  dataDir: env.DATA_DIR ?? '.data',
  port,
  host: env.HOST ?? '127.0.0.1',
  testControls: env.PIPELINE_TEST_CONTROLS === '1',
  exportWorker: env.EXPORT_WORKER !== 'off',
  exportVideoUrl: env.EXPORT_VIDEO_URL || undefined,
  exportVisibilitySeconds: env.EXPORT_VISIBILITY_SECONDS ? Number(env.EXPORT_VISIBILITY_SECONDS) : undefined,
  warmEngines: true,
  extraEnv,
}).catch((error: unknown) => {
  // The one start-up failure a user causes and fixes alone: say so in one line, no stack trace.
  if (!(error instanceof PortInUseError)) throw error;
  process.stderr.write(
    `reel-pipeline cannot start: port ${error.port} on ${error.host} is already in use; set PORT to a free port (PORT=${error.port + 1} npm start) or stop what holds it.\n`,
  );
  process.exit(1);
});
log.info('reel-pipeline is listening', {
  api: `${stack.apiUrl}/api/pipeline/run`,
  export_service: stack.exportServiceUrl,
  data_dir: env.DATA_DIR ?? '.data',
  test_controls: env.PIPELINE_TEST_CONTROLS === '1',
});
process.stderr.write(`\nreel-pipeline listening on ${stack.apiUrl}  (POST ${stack.apiUrl}/api/pipeline/run) — Ctrl-C to stop\n\n`);

let stopping = false;
// A dead emulator thread leaves a stack that answers 5xx to everything: stop, say so in one line
// and exit 1, so whoever started it (a user, a supervisor) starts it again; the data is on disk
// and running tasks continue from it.
void stack.emulatorsEnded.then(async ({ emulators, exitCode }) => {
  if (stopping) return;
  stopping = true;
  process.stderr.write(
    `reel-pipeline stopped: its emulator thread (${emulators.join(', ')}) ended with code ${exitCode}. What it stored is kept in ${env.DATA_DIR ?? '.data'}; start it again (npm start) and running tasks continue.\n`,
  );
  await stack.stop().catch(() => undefined);
  process.exit(1);
});
const shutdown = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  log.info('shutting down', { signal });
  await stack.stop();
  process.exit(0);
};
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
