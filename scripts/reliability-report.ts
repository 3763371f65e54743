import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ReliabilityRow } from '../test/support/reliability.js';

/**
 * `npm run reliability`: runs the fault suite with RELIABILITY_REPORT set, so each fault test
 * records what it measured, and writes docs/reliability.md from those rows. Exits non-zero if
 * a test failed or any row lost data, duplicated work or leaked a lock.
 */
const FILES = [
  'test/e2e/submission-storm.test.ts',
  'test/e2e/export-faults.test.ts',
  'test/e2e/export-lease.test.ts',
  'test/e2e/export-lambda-worker.test.ts',
  'test/e2e/export-deadline.test.ts',
  'test/e2e/restart-after-kill.test.ts',
  'test/e2e/rate-limit-storm.test.ts',
  'test/e2e/cancel-and-idempotency.test.ts',
  'test/e2e/hostile-input.test.ts',
  'test/e2e/retry-task.test.ts',
  'test/e2e/source-media-hostile.test.ts',
  'test/e2e/request-options.test.ts',
].filter((f) => existsSync(f));

const report = join(mkdtempSync(join(tmpdir(), 'reel-reliability-')), 'rows.jsonl');
const started = Date.now();
const run = spawnSync('npx', ['vitest', 'run', ...FILES], { stdio: 'inherit', env: { ...process.env, RELIABILITY_REPORT: report } });
const rows: ReliabilityRow[] = existsSync(report)
  ? readFileSync(report, 'utf8')
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as ReliabilityRow)
  : [];

const cell = (v: string | number) => String(v).replace(/\|/g, '\\|');
const lines = [
  '# Reliability: faults injected and what they cost',
  '',
  `Written by \`npm run reliability\` on ${new Date().toISOString().slice(0, 10)} (${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, load ${loadavg()[0].toFixed(1)}), ` +
    `from the fault suite's own measurements (${FILES.length} test files, ${((Date.now() - started) / 1000).toFixed(0)} s, vitest exit ${run.status}).`,
  'Each row is recorded by the test that injects the fault, from what it observed; the same tests run in `npm test`.',
  '',
  '| fault | runs | outcome | data lost | duplicates | locks leaked |',
  '| --- | ---: | --- | ---: | ---: | ---: |',
  ...rows.map((r) => `| ${cell(r.fault)} | ${r.runs} | ${cell(r.outcome)} | ${r.data_lost} | ${r.duplicates} | ${r.locks_leaked} |`),
  '',
];
writeFileSync('docs/reliability.md', lines.join('\n'));
process.stdout.write(`\nwrote docs/reliability.md (${rows.length} rows)\n`);
const bad = rows.filter((r) => r.data_lost || r.duplicates || r.locks_leaked);
if (run.status !== 0 || bad.length || rows.length === 0) {
  process.stderr.write(`reliability run not clean: vitest exit ${run.status}, ${bad.length} row(s) with losses/duplicates/leaks\n`);
  process.exit(1);
}
