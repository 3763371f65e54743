import { defineConfig } from 'vitest/config';

/**
 * Projects, by what a test needs: `unit` (no emulator, no ffmpeg, no child process: seconds,
 * `npm run test:unit`), `e2e` (the embedded emulators, the pipeline through its HTTP API, renders),
 * `infra` (the synthesized CDK template: IAM, cdk-nag, the resource model) — `npm test` runs these three —
 * and `browser` (the console in Debian's chromium: `npm run test:browser`, after `apt-get install chromium`).
 */
export default defineConfig({
  test: {
    // After each file: the AWS calls its embedded stacks made must be allowed by the template's IAM.
    setupFiles: ['test/support/iam-check-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: end-to-end files render video and run ffmpeg; two files at a time at most.
    maxWorkers: 2,
    pool: 'forks',
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      { extends: true, test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'] } },
      { extends: true, test: { name: 'infra', include: ['test/infra/**/*.test.ts'] } },
      // Debian's chromium driven by playwright-core; needs apt, so not part of `npm test` (`npm run test:browser`).
      { extends: true, test: { name: 'browser', include: ['test/browser/**/*.test.ts'], testTimeout: 120_000 } },
    ],
  },
});
