import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** `npm start` (infra/embedded/main.ts) as a user runs it, in a child process. */
let taken: Server;
let takenPort: number;
let root: string;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'embedded-main-'));
  taken = createServer();
  await new Promise<void>((ok) => taken.listen(0, '127.0.0.1', ok));
  takenPort = (taken.address() as { port: number }).port;
});

afterAll(async () => {
  await new Promise<void>((ok) => taken?.close(() => ok()));
  rmSync(root, { recursive: true, force: true });
});

async function start(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'infra/embedded/main.ts'], {
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', EXPORT_WORKER: 'off', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  // A stack that did start would run until stopped: the bound keeps a regression from hanging the suite.
  const timer = setTimeout(() => child.kill('SIGTERM'), 30_000);
  const code = await new Promise<number | null>((ok) => child.on('close', ok));
  clearTimeout(timer);
  return { code, stdout, stderr };
}

describe('npm start', () => {
  it('says in one line that the port is taken, naming PORT, and exits 1 without a stack trace or a data dir', async () => {
    const dataDir = join(root, 'port-taken');

    const { code, stdout, stderr } = await start({ PORT: String(takenPort), DATA_DIR: dataDir });

    expect(stderr.trim().split('\n')).toEqual([
      expect.stringMatching(new RegExp(`port ${takenPort} on 127\\.0\\.0\\.1 is already in use; set PORT to a free port`)),
    ]);
    expect(stderr).not.toMatch(/\n\s+at |EADDRINUSE/);
    expect(stdout).toBe('');
    expect(code).toBe(1);
    expect(existsSync(dataDir)).toBe(false);
  }, 40_000);

  it('names PORT when it is not a port number', async () => {
    const { code, stderr } = await start({ PORT: 'eighty', DATA_DIR: join(root, 'bad-port') });

    expect(stderr.trim()).toBe('reel-pipeline cannot start: PORT must be a port number from 0 to 65535, got "eighty".');
    expect(code).toBe(1);
  }, 40_000);

  it('stops with one line naming the emulator thread and exits 1 when that thread dies, keeping the data', async () => {
    const dataDir = join(root, 'emulators-end');
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', 'infra/embedded/main.ts'], {
      env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', EXPORT_WORKER: 'off', PORT: String(port), DATA_DIR: dataDir, PIPELINE_TEST_CONTROLS: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    const listening = new Promise<void>((ok) =>
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (stderr.includes('reel-pipeline listening on')) ok();
      }),
    );
    const closed = new Promise<number | null>((ok) => child.on('close', ok));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    try {
      await listening;
      const res = await fetch(`http://127.0.0.1:${port}/__test/emulator-threads/end`, { method: 'POST' });
      expect(res.status).toBe(200);
      expect(await closed).toBe(1);
    } finally {
      clearTimeout(timer);
      child.kill('SIGKILL');
    }
    expect(stderr).toContain(
      `reel-pipeline stopped: its emulator thread (dynamodb, s3, sqs) ended with code 1. What it stored is kept in ${dataDir}; start it again (npm start) and running tasks continue.`,
    );
    expect(existsSync(join(dataDir, 'dynamodb'))).toBe(true);
  }, 40_000);
});

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((ok) => probe.listen(0, '127.0.0.1', ok));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((ok) => probe.close(() => ok()));
  return port;
}
