import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // After each file: the AWS calls its embedded stacks made must be allowed by the template's IAM.
    setupFiles: ['test/support/iam-check-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: end-to-end files render video and run ffmpeg; two files at a time at most.
    maxWorkers: 2,
    pool: 'forks',
  },
});
