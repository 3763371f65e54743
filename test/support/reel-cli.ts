import { spawn } from 'node:child_process';
import path from 'node:path';

const BIN = path.resolve(import.meta.dirname, '../../bin/reel.js');

export interface ReelRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `reel` as a user does (node bin/reel.js, its own process, stdout and stderr piped), with
 * the test's environment plus `env`.
 */
export function runReel(args: string[], o: { env?: Record<string, string>; cwd?: string } = {}): Promise<ReelRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: o.cwd, env: { ...process.env, ...o.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
