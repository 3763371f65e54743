/**
 * Running the ffmpeg and ffprobe binaries: spawning, the stderr tail, killing on abort. Knows
 * nothing of drafts or filter graphs — what to render is `ffmpeg-command.ts`'s business.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { RenderFailedError } from './render-errors.js';

/** Optional structured log line sink (no console in `shared/`). */
export type RenderLog = (msg: string, data?: object) => void;

const STDERR_TAIL_LINES = 40;

const requireFromHere = createRequire(import.meta.url);
let installedFfmpegPath: string | undefined;
let installedFfprobePath: string | undefined;

// Resolved on first use, not at import: a Lambda bundle may ship its own binaries.
/** The ffmpeg binary of `@ffmpeg-installer/ffmpeg`. */
export function defaultFfmpegPath(): string {
  installedFfmpegPath ??= (requireFromHere('@ffmpeg-installer/ffmpeg') as { path: string }).path;
  return installedFfmpegPath;
}
/** The ffprobe binary of `@ffprobe-installer/ffprobe`. */
export function defaultFfprobePath(): string {
  installedFfprobePath ??= (requireFromHere('@ffprobe-installer/ffprobe') as { path: string }).path;
  return installedFfprobePath;
}

/**
 * Runs ffmpeg to completion; kills it (SIGKILL) when `signal` aborts and settles only after it exited.
 *
 * @throws {@link RenderFailedError} when ffmpeg exits with a code ≠ 0 or is killed by the system.
 * @throws an `AbortError` when `signal` aborts.
 */
export function runFfmpeg(a: { ffmpegPath: string; args: string[]; env: NodeJS.ProcessEnv; signal?: AbortSignal; log?: RenderLog }): Promise<void> {
  return new Promise((resolve, reject) => {
    throwIfAborted(a.signal);
    const child = spawn(a.ffmpegPath, a.args, { env: a.env, stdio: ['ignore', 'ignore', 'pipe'] });
    a.log?.('ffmpeg started', { pid: child.pid, args: a.args });
    const tail: string[] = [];
    let partial = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      const lines = (partial + chunk).split(/\r?\n|\r/);
      partial = lines.pop() ?? '';
      tail.push(...lines.filter((l) => l.trim()));
      if (tail.length > STDERR_TAIL_LINES) tail.splice(0, tail.length - STDERR_TAIL_LINES);
    });
    const onAbort = () => child.kill('SIGKILL');
    a.signal?.addEventListener('abort', onAbort, { once: true });
    let spawnError: unknown;
    child.on('error', (error: unknown) => {
      spawnError = error;
    });
    child.on('close', (code, exitSignal) => {
      a.signal?.removeEventListener('abort', onAbort);
      if (partial.trim()) tail.push(partial);
      if (a.signal?.aborted) return reject(abortError(a.signal));
      if (code === 0) {
        if (tail.length) a.log?.('ffmpeg warnings', { lines: tail });
        return resolve();
      }
      const why = spawnError instanceof Error ? spawnError.message : tail.slice(-3).join(' | ') || 'no output';
      reject(
        new RenderFailedError(`ffmpeg ${code === null ? `was killed by ${exitSignal}` : `exited with code ${code}`}: ${why}`, {
          exitCode: code,
          exitSignal,
          stderrTail: [...tail],
          cause: spawnError,
        }),
      );
    });
  });
}

/** Runs a binary to completion and collects its output (for ffprobe). */
export function runCollect(file: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Throws the `AbortError` of `signal` when it has aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(signal);
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name === 'AbortError') return reason;
  const error = new Error('The render was aborted.', { cause: reason });
  error.name = 'AbortError';
  return error;
}
